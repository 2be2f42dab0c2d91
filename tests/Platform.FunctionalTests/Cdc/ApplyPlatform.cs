using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Confluent.Kafka;
using Ingestor.Cdc;
using Platform.ClickHouse;
using Platform.Kafka;
using Platform.Testing;

namespace Platform.FunctionalTests.Cdc;

/// <summary>
/// A platform whose CDC bridge is configured with tables that do not exist in PostgreSQL: the capture side
/// leaves them alone (it refuses them), and the tests play the capture side, producing change envelopes
/// (the contract's own types) to the tables' topics with a real Kafka producer. What the apply side makes
/// of them is read back from ClickHouse, the Ingestor's status and the CDC dead-letter topic.
/// </summary>
public sealed class ApplyPlatform : PlatformFixture, IAsyncLifetime
{
    public const string Tenant = "acme";
    public const string DeadLetterTopic = "cdc.dead-letter";

    /// <summary>One table per test, so tests never see each other's rows.</summary>
    public static readonly string[] Tables =
    [
        "apply_users", "apply_replay", "apply_snapshot", "apply_toast", "apply_added", "apply_dropped", "apply_retyped", "apply_neighbour", "apply_bad", "apply_outage", "apply_truncated", "apply_upgraded", "apply_commit", "apply_refused",
    ];

    private static readonly JsonTypeInfo<JsonObject> RowType = (JsonTypeInfo<JsonObject>)JsonSerializerOptions.Default.GetTypeInfo(typeof(JsonObject));
    private IProducer<byte[], byte[]>? _producer;

    protected override bool WithDemoData => false;

    protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
    {
        ["Cdc:Tables"] = string.Join(",", Tables),
        ["Cdc:TenantId"] = Tenant,
    };

    public ClickHouseClient ClickHouse => Probe.ClickHouse;

    private IProducer<byte[], byte[]> Producer => _producer ??=
        new ProducerBuilder<byte[], byte[]>(KafkaConfig.Producer(KafkaConfig.Bootstrap(App["kafka"].ConnectionString!), "cdc-apply-tests")).SetLogHandler((_, _) => { }).Build();

    public static string Topic(string table) => $"cdc.public.{table}";

    public static ChangeColumn Column(string name, string type, bool key = false, int typeModifier = -1) => new(name, type, typeModifier, key);

    /// <summary>PostgreSQL's text form of an LSN, as the capture side writes <see cref="ChangeSource.Lsn"/>.</summary>
    public static string Lsn(ulong version) => string.Create(CultureInfo.InvariantCulture, $"{version >> 32:X}/{version & 0xFFFFFFFF:X}");

    public static ChangeEnvelope Change(string op, string table, ulong version, IReadOnlyList<ChangeColumn> columns,
        Dictionary<string, string?>? after = null, Dictionary<string, string?>? before = null, string tenant = Tenant, DateTimeOffset? commitTime = null) =>
        new(op, before, after,
            new ChangeSource("public", table, version, Lsn(version), commitTime ?? new DateTimeOffset(2026, 11, 22, 10, 0, 0, TimeSpan.Zero).AddSeconds(version & 0xFFFFF),
                op == ChangeEnvelope.Read ? null : (uint)version, op == ChangeEnvelope.Read),
            columns, tenant);

    /// <summary>Produces envelopes in order, each keyed by its key columns as the capture side keys them (one row, one partition).</summary>
    public async Task SendAsync(string table, params ChangeEnvelope[] changes)
    {
        foreach (var change in changes)
        {
            var values = change.After ?? change.Before ?? [];
            await SendRawAsync(table, ChangeEnvelope.KeyOf(change.Columns, values), JsonSerializer.SerializeToUtf8Bytes(change, CdcJsonContext.Default.ChangeEnvelope));
        }
    }

    public async Task SendRawAsync(string table, byte[] key, byte[] value) =>
        await Producer.ProduceAsync(Topic(table), new Message<byte[], byte[]> { Key = key, Value = value });

    /// <summary>The view's rows as JSON text, ordered by the first column after tenant_id; empty while the view does not exist.</summary>
    public async Task<List<string>> CurrentAsync(string table, string orderBy = "id")
    {
        try
        {
            var rows = await ClickHouse.QueryAsync($"SELECT * FROM {ClickHouseSql.Identifier($"cdc_{table}_current")} ORDER BY {ClickHouseSql.Identifier(orderBy)}", RowType);
            return rows.Select(r => r.ToJsonString()).ToList();
        }
        catch (ClickHouseServerException ex) when (ex.Code == ClickHouseErrorCodes.UnknownTable)
        {
            return [];
        }
    }

    /// <summary>Waits until the view shows exactly <paramref name="expected"/> (JSON rows), then asserts it.</summary>
    public async Task AssertCurrentAsync(string table, IReadOnlyList<string> expected, string orderBy = "id", TimeSpan? timeout = null)
    {
        var rows = await Eventually.MatchesAsync(() => CurrentAsync(table, orderBy), r => r.SequenceEqual(expected), timeout ?? TimeSpan.FromSeconds(45));
        Assert.Equal(expected, rows);
    }

    public async Task<JsonObject> StatusAsync()
    {
        using var ingestor = CreateHttpClient("ingestor");
        return JsonNode.Parse(await ingestor.GetStringAsync("/v1/status"))!.AsObject();
    }

    public static JsonObject TableStatus(JsonObject status, string table) =>
        status["cdc"]!["tables"]!.AsArray().Select(t => t!.AsObject()).Single(t => t["table"]!.GetValue<string>() == "public." + table);

    /// <summary>Dead letters of one table: the whole topic read to its end, then polled until at least <paramref name="expected"/> are there.</summary>
    public async Task<List<CdcDeadLetter>> DeadLettersAsync(string table, int expected, TimeSpan? timeout = null)
    {
        var bootstrap = KafkaConfig.Bootstrap(App["kafka"].ConnectionString!);
        var config = KafkaConfig.Consumer(bootstrap, "tests-" + Guid.NewGuid().ToString("N"), "tests");
        config.EnablePartitionEof = true;
        using var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();
        var found = new List<CdcDeadLetter>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(45));
        await Task.Yield();
        while (DateTime.UtcNow < deadline && found.Count < expected)
        {
            found.Clear();
            var partitions = admin.GetMetadata(DeadLetterTopic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions
                .Select(p => new TopicPartitionOffset(DeadLetterTopic, p.PartitionId, Offset.Beginning)).ToList();
            using var consumer = new ConsumerBuilder<byte[], byte[]>(config).SetLogHandler((_, _) => { }).Build();
            consumer.Assign(partitions);
            var atEnd = new HashSet<int>();
            var pass = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (atEnd.Count < partitions.Count && DateTime.UtcNow < pass)
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

                if (Header(result.Message, "cdc-table") == "public." + table)
                {
                    found.Add(new CdcDeadLetter(Encoding.UTF8.GetString(result.Message.Value ?? []), Header(result.Message, "dead-letter-reason"),
                        Header(result.Message, "dead-letter-field"), Header(result.Message, "dead-letter-source")));
                }
            }

            consumer.Close();
            if (found.Count < expected)
            {
                await Task.Delay(500);
            }
        }

        return found;
    }

    /// <summary>Per partition of the table's topic, the CDC group's committed offset and the high watermark (for failure messages).</summary>
    public string Offsets(string table)
    {
        var bootstrap = KafkaConfig.Bootstrap(App["kafka"].ConnectionString!);
        using var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();
        var partitions = admin.GetMetadata(Topic(table), TimeSpan.FromSeconds(10)).Topics.Single().Partitions.Select(p => new TopicPartition(Topic(table), p.PartitionId)).ToList();
        using var consumer = new ConsumerBuilder<byte[], byte[]>(KafkaConfig.Consumer(bootstrap, "ingestor-cdc", "tests")).SetLogHandler((_, _) => { }).Build();
        var committed = consumer.Committed(partitions, TimeSpan.FromSeconds(5));
        return string.Join("; ", committed.Select(c => $"{c.Partition.Value}: committed {c.Offset.Value}, high {consumer.QueryWatermarkOffsets(c.TopicPartition, TimeSpan.FromSeconds(5)).High.Value}"));
    }

    private static string Header(Message<byte[], byte[]> message, string name) =>
        message.Headers?.TryGetLastBytes(name, out var bytes) == true ? Encoding.UTF8.GetString(bytes) : "";

    public new async Task DisposeAsync()
    {
        _producer?.Dispose();
        await base.DisposeAsync();
    }
}

public sealed record CdcDeadLetter(string Value, string Reason, string Field, string Source);

[CollectionDefinition(Name)]
public sealed class ApplyCollection : ICollectionFixture<ApplyPlatform>
{
    public const string Name = "cdc-apply";
}
