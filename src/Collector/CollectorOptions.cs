using System.ComponentModel.DataAnnotations;

namespace Collector;

/// <summary>Intake limits and Kafka acknowledgement bounds, bound from the <c>Collector</c> section.</summary>
public sealed class CollectorOptions
{
    public const string Section = "Collector";

    [Range(1024, 16 * 1024 * 1024)]
    public int MaxRequestBytes { get; set; } = 500 * 1024;

    [Range(256, 1024 * 1024)]
    public int MaxEventBytes { get; set; } = 32 * 1024;

    [Range(1, 10_000)]
    public int MaxEventsPerRequest { get; set; } = 2_000;

    /// <summary>How long a request waits for Kafka to acknowledge its records before answering 503.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan AcknowledgeTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
