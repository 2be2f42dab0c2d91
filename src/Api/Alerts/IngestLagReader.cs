using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Platform.Events;
using Platform.Kafka;

namespace Api.Alerts;

/// <summary>What the Ingestor's consumer group has not stored yet: records behind, and how old the oldest of them is.</summary>
public sealed record IngestLag(long RecordsBehind, double OldestAgeSeconds);

/// <summary>
/// Reads the ingest lag from Kafka itself, not from the Ingestor, so it keeps growing while the Ingestor is down: per
/// partition, the group's committed offset against the high watermark, and the timestamp of the record at the committed
/// offset (the Ingestor commits only what ClickHouse stored, so that record is the oldest not stored). The consumer never
/// subscribes or commits: it does not join the group it reads.
/// </summary>
public sealed class IngestLagReader(IConfiguration configuration, IOptions<AlertOptions> options, TimeProvider time) : IDisposable
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(3);
    private readonly Lock _gate = new();
    private (IAdminClient Admin, IConsumer<byte[], byte[]> Reader)? _clients;

    public Task<IngestLag> ReadAsync(CancellationToken cancellationToken) =>
        // librdkafka's calls block; one reading at a time on the pool.
        Task.Run(() =>
        {
            lock (_gate)
            {
                return Read();
            }
        }, cancellationToken);

    private IngestLag Read()
    {
        var (admin, reader) = _clients ??= Create();
        var partitions = admin.GetMetadata(EventTopics.Events, CallTimeout).Topics.SelectMany(t => t.Partitions)
            .Select(p => new TopicPartition(EventTopics.Events, p.PartitionId)).ToList();
        long behind = 0;
        DateTimeOffset? oldest = null;
        foreach (var committed in reader.Committed(partitions, CallTimeout))
        {
            var marks = reader.QueryWatermarkOffsets(committed.TopicPartition, CallTimeout);
            var from = committed.Offset.IsSpecial ? marks.Low.Value : Math.Max(committed.Offset.Value, marks.Low.Value);
            if (marks.High.Value <= from)
            {
                continue;
            }

            behind += marks.High.Value - from;
            reader.Assign(new TopicPartitionOffset(committed.TopicPartition, from));
            try
            {
                if (reader.Consume(CallTimeout) is { Message: { } message })
                {
                    var at = message.Timestamp.UtcDateTime;
                    oldest = oldest is { } o && o <= at ? o : new DateTimeOffset(at, TimeSpan.Zero);
                }
            }
            finally
            {
                reader.Unassign();
            }
        }

        var age = oldest is { } first ? Math.Max(0, (time.GetUtcNow() - first).TotalSeconds) : 0;
        return new IngestLag(behind, age);
    }

    private (IAdminClient, IConsumer<byte[], byte[]>) Create()
    {
        var bootstrap = KafkaConfig.Bootstrap(configuration.GetConnectionString("kafka")
            ?? throw new AlertReadException("The Api has no Kafka connection (ConnectionStrings:kafka), so it cannot read the ingest lag."));
        var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();
        var config = KafkaConfig.Consumer(bootstrap, options.Value.IngestorConsumerGroup, "api-alerts");
        config.EnablePartitionEof = false;
        var reader = new ConsumerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
        return (admin, reader);
    }

    public void Dispose()
    {
        if (_clients is { } clients)
        {
            clients.Reader.Close();
            clients.Reader.Dispose();
            clients.Admin.Dispose();
        }
    }
}
