using System.Diagnostics.Metrics;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Platform.Events;
using Platform.Kafka;

namespace Collector.Intake;

/// <summary>
/// How far the Ingestor's consumer group is behind on each partition of the events topic. A broker
/// that keeps little (the development mock cluster holds about 5 MiB per partition, then deletes
/// the oldest batches) would lose acknowledged events once the Ingestor falls that far behind, so
/// with <see cref="CollectorOptions.MaxPartitionBacklog"/> set, intake answers 503 until it catches up:
/// the client keeps the events and retries, instead of being told they are safe.
/// </summary>
public sealed class IngestBacklog(EventPublisher publisher, IOptions<CollectorOptions> options, IConfiguration configuration, ILogger<IngestBacklog> logger) : BackgroundService
{
    private static readonly Meter Meter = new("Platform.Collector");
    private long _largest;
    private long _total;

    /// <summary>The largest backlog of one partition, in events, at the last measurement.</summary>
    public long LargestPartitionBacklog => Volatile.Read(ref _largest);

    /// <summary>True while a partition is further behind than allowed. (A broker that cannot be asked shows as unacknowledged writes instead.)</summary>
    public bool IsOverloaded => options.Value.MaxPartitionBacklog is { } max && LargestPartitionBacklog > max;

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.MaxPartitionBacklog is null)
        {
            return Task.CompletedTask;
        }

        Meter.CreateObservableGauge("collector.ingest.backlog", () => Volatile.Read(ref _total), description: "Events on the events topic the Ingestor has not committed yet.");
        // Committed() and QueryWatermarkOffsets() block; the loop gets its own thread.
        return Task.Factory.StartNew(() => Watch(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    private void Watch(CancellationToken stoppingToken)
    {
        var bootstrap = KafkaConfig.Bootstrap(configuration.GetConnectionString("kafka")!);
        using var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();
        // A consumer of the Ingestor's group that never subscribes: it only reads the group's committed offsets.
        using var reader = new ConsumerBuilder<byte[], byte[]>(KafkaConfig.Consumer(bootstrap, options.Value.IngestorConsumerGroup, "collector-backlog"))
            .SetLogHandler((_, _) => { }).Build();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var partitions = admin.GetMetadata(EventTopics.Events, TimeSpan.FromSeconds(2)).Topics.SelectMany(t => t.Partitions)
                    .Select(p => new TopicPartition(EventTopics.Events, p.PartitionId)).ToList();
                long largest = 0, total = 0;
                foreach (var committed in reader.Committed(partitions, TimeSpan.FromSeconds(2)))
                {
                    var marks = reader.QueryWatermarkOffsets(committed.TopicPartition, TimeSpan.FromSeconds(2));
                    var from = committed.Offset.IsSpecial ? marks.Low.Value : committed.Offset.Value;
                    var behind = Math.Max(0, marks.High.Value - from);
                    largest = Math.Max(largest, behind);
                    total += behind;
                }

                // Offsets count records; a record holds a few events (as many on average as this Collector writes).
                var eventsPerRecord = publisher.EventsPerRecord;
                Volatile.Write(ref _largest, (long)(largest * eventsPerRecord));
                Volatile.Write(ref _total, (long)(total * eventsPerRecord));
            }
            catch (KafkaException ex)
            {
                logger.LogWarning("Cannot measure the ingest backlog: {Error}", ex.Error.Reason);
            }

            stoppingToken.WaitHandle.WaitOne(options.Value.BacklogCheckInterval);
        }
    }
}
