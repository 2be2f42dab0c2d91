using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Confluent.Kafka;
using Platform.ClickHouse;
using Platform.Events;
using Platform.Kafka;

namespace Platform.Testing;

/// <summary>One record of the dead-letter topic, as a test reads it.</summary>
public sealed record DeadLetterRecord(string TenantId, string Value, string Reason, string Field, string Source);

/// <summary>
/// Looks behind the HTTP answers, over the wire: which rows of a tenant ClickHouse holds, and which
/// dead letters Kafka holds, so a test can show that good events arrived and bad ones were kept.
/// </summary>
public sealed class PipelineProbe(PlatformApp app)
{
    private static readonly JsonTypeInfo<JsonObject> RowType = (JsonTypeInfo<JsonObject>)JsonSerializerOptions.Default.GetTypeInfo(typeof(JsonObject));

    public ClickHouseClient ClickHouse { get; } = new(new HttpClient { Timeout = TimeSpan.FromSeconds(30) },
        ClickHouseConnectionSettings.Parse(app["clickhouse"].ConnectionString!));

    /// <summary>The tenant's stored rows (every copy), oldest first.</summary>
    public Task<List<JsonObject>> RowsAsync(string tenantId, string where = "1") =>
        ClickHouse.QueryAsync(
            $"SELECT * FROM raw_events WHERE tenant_id = {ClickHouseSql.Literal(tenantId)} AND ({where}) ORDER BY event_time, event_id",
            RowType);

    /// <summary>Waits until the tenant has at least <paramref name="count"/> rows matching, and returns them.</summary>
    public async Task<List<JsonObject>> RowsUntilAsync(string tenantId, int count, string where = "1", TimeSpan? timeout = null) =>
        await Eventually.MatchesAsync(() => RowsAsync(tenantId, where), rows => rows.Count >= count, timeout);

    /// <summary>
    /// The tenant's dead letters: the whole topic is read to its end, then polled until at least
    /// <paramref name="expected"/> are there or the time is up, so "none" and "these" can both be asserted.
    /// </summary>
    public async Task<List<DeadLetterRecord>> DeadLettersAsync(string tenantId, int expected, TimeSpan? timeout = null)
    {
        var records = await RecordsAsync(EventTopics.DeadLetter, m => Header(m, DeadLetterHeaders.TenantId) == tenantId, expected, timeout);
        return records.Select(m => new DeadLetterRecord(tenantId, Encoding.UTF8.GetString(m.Value),
            Header(m, DeadLetterHeaders.Reason), Header(m, DeadLetterHeaders.Field), Header(m, DeadLetterHeaders.Source))).ToList();
    }

    /// <summary>The records of the events topic keyed to the tenant (<c>tenant:slot</c>), read to the end of every partition.</summary>
    public Task<List<Message<byte[], byte[]>>> EventRecordsAsync(string tenantId, int expected, TimeSpan? timeout = null) =>
        RecordsAsync(EventTopics.Events, m => Encoding.UTF8.GetString(m.Key ?? []).StartsWith(tenantId + ":", StringComparison.Ordinal), expected, timeout);

    /// <summary>
    /// The topic's records that match: the whole topic is read to its end, then polled until at least
    /// <paramref name="expected"/> are there or the time is up, so "none" and "these" can both be asserted.
    /// </summary>
    private async Task<List<Message<byte[], byte[]>>> RecordsAsync(string topic, Func<Message<byte[], byte[]>, bool> matches, int expected, TimeSpan? timeout)
    {
        var bootstrap = KafkaConfig.Bootstrap(app["kafka"].ConnectionString!);
        var config = KafkaConfig.Consumer(bootstrap, "tests-" + Guid.NewGuid().ToString("N"), "tests");
        config.EnablePartitionEof = true;
        using var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();
        var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions
            .Select(p => new TopicPartitionOffset(topic, p.PartitionId, Offset.Beginning)).ToList();
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(partitions); // no group join: reading starts at once
        var found = new List<Message<byte[], byte[]>>();
        var atEnd = new HashSet<int>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        await Task.Yield();
        while (DateTime.UtcNow < deadline && (atEnd.Count < partitions.Count || found.Count < expected))
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (result is null)
            {
                continue;
            }

            if (result.IsPartitionEOF)
            {
                atEnd.Add(result.Partition.Value);
                continue;
            }

            if (matches(result.Message))
            {
                found.Add(result.Message);
            }
        }

        consumer.Close();
        return found;
    }

    private static string Header(Message<byte[], byte[]> message, string name) =>
        message.Headers?.TryGetLastBytes(name, out var bytes) == true ? Encoding.UTF8.GetString(bytes) : "";
}
