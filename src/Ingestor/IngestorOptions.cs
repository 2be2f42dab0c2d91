using System.ComponentModel.DataAnnotations;

namespace Ingestor;

/// <summary>Batching and consumer-group settings, bound from the <c>Ingestor</c> section.</summary>
public sealed class IngestorOptions
{
    public const string Section = "Ingestor";

    [Required]
    public string ConsumerGroup { get; set; } = "ingestor";

    /// <summary>Partitions of the events topic when the Ingestor has to create it.</summary>
    [Range(1, 1024)]
    public int TopicPartitions { get; set; } = Platform.Kafka.KafkaTopics.DefaultPartitions;

    /// <summary>A batch is flushed when it holds this many rows...</summary>
    [Range(1, 1_000_000)]
    public int BatchMaxRows { get; set; } = 20_000;

    /// <summary>...or when its oldest row has waited this long.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan BatchMaxDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long one insert may take before it counts as failed; below max.poll.interval.ms (5 min), since the consumer does not poll meanwhile.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:04:00")]
    public TimeSpan InsertTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The longest wait between two attempts to insert a batch ClickHouse refused.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(10);
}
