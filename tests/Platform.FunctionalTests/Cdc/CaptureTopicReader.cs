using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using Platform.Kafka;
using Platform.Testing;

namespace Platform.FunctionalTests.Cdc;

/// <summary>One change record as a test reads it off a table's topic: the raw key and the envelope as JSON.</summary>
public sealed record ChangeRecord(int Partition, long Offset, string Key, JsonObject Envelope, DateTime ProducedAt)
{
    public string Op => (string)Envelope["op"]!;

    public JsonObject? Before => Envelope["before"] as JsonObject;

    public JsonObject? After => Envelope["after"] as JsonObject;

    public JsonObject Source => Envelope["source"]!.AsObject();

    public ulong Version => ulong.Parse(Source["version"]!.ToString(), CultureInfo.InvariantCulture);

    /// <summary>Written by a snapshot: its rows (<c>r</c>) and the truncation just below them (<c>t</c>).</summary>
    public bool IsSnapshot => (bool)Source["snapshot"]!;

    public string? Value(string column) => (string?)(After ?? Before)?[column];
}

/// <summary>
/// Reads a change topic from its beginning with a real Kafka consumer (assigned, no group), to the end of
/// every partition, and keeps polling until the records satisfy a condition or the time is up.
/// </summary>
public sealed class CaptureTopicReader(PlatformApp app)
{
    public async Task<List<ChangeRecord>> ReadAsync(string topic, Func<List<ChangeRecord>, bool> until, TimeSpan? timeout = null)
    {
        var bootstrap = KafkaConfig.Bootstrap(app["kafka"].ConnectionString!);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        List<TopicPartitionOffset> partitions;
        using (var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build())
        {
            while (true)
            {
                var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single();
                if (metadata.Error.Code == ErrorCode.NoError && metadata.Partitions.Count > 0)
                {
                    partitions = metadata.Partitions.Select(p => new TopicPartitionOffset(topic, p.PartitionId, Offset.Beginning)).ToList();
                    break;
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"Topic {topic} does not exist: {metadata.Error.Reason}");
                }

                await Task.Delay(500);
            }
        }

        var config = KafkaConfig.Consumer(bootstrap, "capture-tests-" + Guid.NewGuid().ToString("N"), "capture-tests");
        config.EnablePartitionEof = true;
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
        consumer.Assign(partitions);
        var records = new List<ChangeRecord>();
        var atEnd = new HashSet<int>();
        await Task.Yield();
        while (DateTime.UtcNow < deadline)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(100));
            if (result is null)
            {
                continue;
            }

            if (result.IsPartitionEOF)
            {
                atEnd.Add(result.Partition.Value);
                if (atEnd.Count == partitions.Count && until(records))
                {
                    break;
                }

                continue;
            }

            atEnd.Remove(result.Partition.Value);
            records.Add(new ChangeRecord(result.Partition.Value, result.Offset.Value, Encoding.UTF8.GetString(result.Message.Key),
                JsonNode.Parse(result.Message.Value)!.AsObject(), result.Message.Timestamp.UtcDateTime));
        }

        consumer.Close();
        return records;
    }

    /// <summary>
    /// Per key, the record that wins in ClickHouse: the highest version, the later one on a tie (partition order),
    /// among the records after the latest truncation (a TRUNCATE's, or the one just below each snapshot).
    /// </summary>
    public static Dictionary<string, ChangeRecord> Latest(IEnumerable<ChangeRecord> records)
    {
        var list = records.ToList();
        var truncatedAt = list.Where(r => r.Op == "t").Select(r => r.Version).DefaultIfEmpty(0UL).Max();
        return list.Where(r => r.Op != "t" && r.Version > truncatedAt).GroupBy(r => r.Key)
            .ToDictionary(g => g.Key, g => g.OrderBy(r => r.Version).ThenBy(r => r.Offset).Last());
    }
}
