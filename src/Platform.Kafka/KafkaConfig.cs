using Confluent.Kafka;

namespace Platform.Kafka;

/// <summary>Client configurations built from the Aspire-shaped <c>ConnectionStrings:kafka</c> value (the bootstrap servers).</summary>
public static class KafkaConfig
{
    public static ProducerConfig Producer(string bootstrapServers, string clientId) => new()
    {
        BootstrapServers = Bootstrap(bootstrapServers),
        ClientId = clientId,
        // Durable acceptance: every in-sync replica has the record, and retries cannot duplicate or reorder it.
        Acks = Acks.All,
        EnableIdempotence = true,
        LingerMs = 5,
        CompressionType = CompressionType.Lz4,
        MessageTimeoutMs = 10_000,
    };

    public static ConsumerConfig Consumer(string bootstrapServers, string groupId, string clientId) => new()
    {
        BootstrapServers = Bootstrap(bootstrapServers),
        GroupId = groupId,
        ClientId = clientId,
        // Offsets are committed by hand, only after the batch is safely stored downstream.
        EnableAutoCommit = false,
        EnableAutoOffsetStore = false,
        AutoOffsetReset = AutoOffsetReset.Earliest,
        // A crashed member's partitions move after this long; librdkafka heartbeats from its own
        // thread, so a slow insert does not count against it. 45 s (the default) is a long stall.
        SessionTimeoutMs = 10_000,
    };

    public static AdminClientConfig Admin(string bootstrapServers) => new()
    {
        BootstrapServers = Bootstrap(bootstrapServers),
    };

    /// <summary>Accepts a bare host:port list or a <c>BootstrapServers=...</c> style connection string.</summary>
    public static string Bootstrap(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        if (!connectionString.Contains('='))
        {
            return connectionString.Trim();
        }

        var builder = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        foreach (var key in new[] { "BootstrapServers", "bootstrap.servers", "Bootstrap Servers" })
        {
            if (builder.TryGetValue(key, out var value) && value?.ToString() is { Length: > 0 } servers)
            {
                return servers;
            }
        }

        throw new FormatException("The Kafka connection string names no bootstrap servers.");
    }
}
