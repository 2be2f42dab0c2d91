using System.Text.Json.Nodes;
using Npgsql;
using Platform.Testing;
using Xunit.Abstractions;

namespace Platform.FunctionalTests.Cdc;

/// <summary>
/// The CDC bridge's capture side through the real platform: tables in the AppHost's app database (real
/// PostgreSQL with wal_level=logical), change records read off their topics with a real Kafka consumer.
/// The tables are created after the platform started; the Ingestor picks them up by re-checking every second.
/// </summary>
public sealed class CaptureTests(CaptureTests.CapturePlatform platform, ITestOutputHelper output) : IClassFixture<CaptureTests.CapturePlatform>
{
    private const string Tenant = "demo";

    [Fact]
    public async Task InsertUpdateAndDeleteArriveAsExactEnvelopesInCommitOrder()
    {
        var walBefore = await platform.ScalarAsync<string>("SELECT pg_current_wal_lsn()::text");
        var insertXid = await platform.ScalarAsync<long>(
            "INSERT INTO cap_items VALUES (1, 'widget', 12.5, '2026-11-22 10:00:00.5+02', '{a,\"b c\"}', NULL) RETURNING txid_current() % 4294967296");
        var updateXid = await platform.ScalarAsync<long>("UPDATE cap_items SET name = 'widget 2', price = 13, note = 'n' WHERE id = 1 RETURNING txid_current() % 4294967296");
        var deleteXid = await platform.ScalarAsync<long>("DELETE FROM cap_items WHERE id = 1 RETURNING txid_current() % 4294967296");

        var records = (await platform.Topics.ReadAsync("cdc.public.cap_items", r => r.Count(x => x.Key == "{\"id\":\"1\"}") >= 3))
            .Where(r => r.Key == "{\"id\":\"1\"}").ToList();

        Assert.Equal(["c", "u", "d"], records.Select(r => r.Op));
        Assert.Single(records.Select(r => r.Partition).Distinct());
        var columns = JsonNode.Parse("""
            [{"name":"id","type":"int8","typeModifier":-1,"key":true},
             {"name":"name","type":"text","typeModifier":-1,"key":false},
             {"name":"price","type":"numeric","typeModifier":655366,"key":false},
             {"name":"seen_at","type":"timestamptz","typeModifier":-1,"key":false},
             {"name":"tags","type":"_text","typeModifier":-1,"key":false},
             {"name":"note","type":"varchar","typeModifier":24,"key":false}]
            """)!;
        AssertEnvelope(records[0], "c", null,
            """{"id":"1","name":"widget","price":"12.50","seen_at":"2026-11-22T08:00:00.5Z","tags":"{a,\"b c\"}","note":null}""", insertXid, columns);
        AssertEnvelope(records[1], "u", """{"id":"1"}""",
            """{"id":"1","name":"widget 2","price":"13.00","seen_at":"2026-11-22T08:00:00.5Z","tags":"{a,\"b c\"}","note":"n"}""", updateXid, columns);
        AssertEnvelope(records[2], "d", """{"id":"1"}""", null, deleteXid, columns);

        output.WriteLine($"WAL before {walBefore} ({Lsn(walBefore)}); versions {string.Join(", ", records.Select(r => $"{r.Source["lsn"]} ({r.Version})"))}");
        Assert.True(records[0].Version >= Lsn(walBefore), "the insert's version is a WAL position from after the test began");
        Assert.True(records[0].Version < records[1].Version && records[1].Version < records[2].Version, "versions grow in commit order");
    }

    [Fact]
    public async Task ATransactionSpanningTwoTablesCarriesOneTxIdAndItsStatementOrder()
    {
        await using var connection = await platform.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await platform.ExecuteAsync(connection, "INSERT INTO cap_orders VALUES (10, 'new')");
        await platform.ExecuteAsync(connection, "INSERT INTO cap_lines VALUES (10, 1, 'sku-a'), (10, 2, 'sku-b')");
        await platform.ExecuteAsync(connection, "UPDATE cap_orders SET status = 'placed' WHERE id = 10");
        await using var xid = new NpgsqlCommand("SELECT txid_current() % 4294967296", connection);
        var transactionId = (long)(await xid.ExecuteScalarAsync())!;
        await transaction.CommitAsync();

        var orders = (await platform.Topics.ReadAsync("cdc.public.cap_orders", r => r.Count(x => x.Key == "{\"id\":\"10\"}") >= 2))
            .Where(r => r.Key == "{\"id\":\"10\"}").ToList();
        var lines = (await platform.Topics.ReadAsync("cdc.public.cap_lines", r => r.Count(x => x.Key.StartsWith("{\"order_id\":\"10\",", StringComparison.Ordinal)) >= 2))
            .Where(r => r.Key.StartsWith("{\"order_id\":\"10\",", StringComparison.Ordinal)).OrderBy(r => r.Version).ToList();

        Assert.Equal(["c", "u"], orders.Select(r => r.Op));
        Assert.Equal(["{\"order_id\":\"10\",\"line\":\"1\"}", "{\"order_id\":\"10\",\"line\":\"2\"}"], lines.Select(r => r.Key));
        Assert.Equal(["c", "c"], lines.Select(r => r.Op));
        Assert.Equal("sku-b", lines[1].Value("sku"));
        Assert.Equal("placed", orders[1].Value("status"));
        var all = orders.Concat(lines).ToList();
        Assert.All(all, r => Assert.Equal(transactionId, (long)r.Source["txId"]!));
        Assert.Single(all.Select(r => r.Source["commitTime"]!.ToString()).Distinct());
        // Statement order: the order's insert, both lines, then the order's update.
        Assert.Equal([orders[0], lines[0], lines[1], orders[1]], all.OrderBy(r => r.Version));
    }

    [Fact]
    public async Task AnInitialSnapshotWithConcurrentChangesEndsWithTheLatestVersionOfEveryRow()
    {
        const int rows = 20_000;
        await using (var connection = await platform.OpenAsync())
        {
            // One transaction: the table appears with its rows, so they can only reach the topic through the snapshot.
            await platform.ExecuteAsync(connection,
                $"BEGIN; CREATE TABLE cap_snapshot (id int PRIMARY KEY, n int NOT NULL, note text); " +
                $"INSERT INTO cap_snapshot SELECT g, 0, 'row ' || g FROM generate_series(1, {rows}) g; COMMIT");
        }

        using var stop = new CancellationTokenSource();
        var writes = 0;
        var writer = Task.Run(async () =>
        {
            await using var connection = await platform.OpenAsync();
            var random = new Random(7);
            var next = rows + 1;
            while (!stop.IsCancellationRequested)
            {
                var id = random.Next(1, rows + 1);
                var sql = (writes % 10) switch
                {
                    0 => $"DELETE FROM cap_snapshot WHERE id = {id}",
                    1 => $"INSERT INTO cap_snapshot VALUES ({next++}, 1, 'new')",
                    _ => $"UPDATE cap_snapshot SET n = n + 1, note = 'changed' WHERE id = {id}",
                };
                await platform.ExecuteAsync(connection, sql);
                writes++;
            }
        });

        var picked = await platform.WaitForCaptureAsync(d => d.Contains("public.cap_snapshot", StringComparison.Ordinal) && StreamingList(d).Contains("public.cap_snapshot"));
        Assert.True(StreamingList(picked).Contains("public.cap_snapshot"), picked);
        var writesAtSnapshot = writes;
        await Task.Delay(TimeSpan.FromSeconds(2));
        await stop.CancelAsync();
        await writer;
        output.WriteLine($"{writes} writes, {writesAtSnapshot} of them before the snapshot was done");
        Assert.True(writesAtSnapshot > 0, "the writer ran while the table was snapshotted");

        var expected = await platform.RowsAsync("SELECT id::text, n::text, note FROM cap_snapshot");
        var records = await platform.Topics.ReadAsync("cdc.public.cap_snapshot", r => Matches(r, expected) is null, TimeSpan.FromSeconds(120));

        Assert.Null(Matches(records, expected));
        var snapshot = records.Where(r => r.Op == "r").ToList();
        Assert.InRange(snapshot.Count, rows - writesAtSnapshot, rows + writesAtSnapshot);
        Assert.Single(snapshot.Select(r => r.Version).Distinct());
        Assert.All(snapshot, r => Assert.True((bool)r.Source["snapshot"]! && r.Source["txId"] is null && r.Before is null));
        Assert.Contains(records, r => r.Op != "r" && r.Version > snapshot[0].Version);
    }

    [Fact]
    public async Task ATableWithoutAPrimaryKeyIsRefusedWithAClearMessageAndOneGivenAKeyIsPickedUp()
    {
        var health = await platform.WaitForCaptureAsync(d => d.Contains("public.cap_late refused", StringComparison.Ordinal));

        Assert.Contains("public.cap_nopk refused: public.cap_nopk has no primary key: the bridge cannot key its changes; add one", health);
        Assert.Contains("public.cap_late refused: public.cap_late has no primary key", health);
        Assert.Equal("Degraded", await platform.CaptureHealthStatusAsync());
        Assert.Contains("CDC refuses public.cap_nopk: public.cap_nopk has no primary key", platform.IngestorLog());

        await platform.ExecuteAsync("ALTER TABLE cap_late ADD PRIMARY KEY (id)");
        await platform.ExecuteAsync("INSERT INTO cap_late VALUES (2, 'after the key')");
        health = await platform.WaitForCaptureAsync(d => StreamingList(d).Contains("public.cap_late"));
        Assert.Contains("public.cap_late", StreamingList(health));
        Assert.DoesNotContain("cap_late refused", health);

        var records = await platform.Topics.ReadAsync("cdc.public.cap_late", r => r.Any(x => x.Key == "{\"id\":\"2\"}") && r.Any(x => x.Key == "{\"id\":\"1\"}"));
        Assert.Equal("before the key", records.Single(r => r.Key == "{\"id\":\"1\"}").Value("v"));
        Assert.Equal("after the key", records.Last(r => r.Key == "{\"id\":\"2\"}").Value("v"));
    }

    [Fact]
    public async Task AnIngestorKilledMidStreamLosesNoCommittedChange()
    {
        using var stop = new CancellationTokenSource();
        var committed = new List<(int Id, int N)>();
        var writer = Task.Run(async () =>
        {
            await using var connection = await platform.OpenAsync();
            for (var i = 1; !stop.IsCancellationRequested; i++)
            {
                var id = i % 40;
                if (i % 15 == 0)
                {
                    await platform.ExecuteAsync(connection, $"DELETE FROM cap_kill WHERE id = {id}");
                }
                else
                {
                    await platform.ExecuteAsync(connection, $"INSERT INTO cap_kill VALUES ({id}, {i}) ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.n");
                    lock (committed)
                    {
                        committed.Add((id, i));
                    }
                }

                await Task.Delay(5);
            }
        });

        await platform.Topics.ReadAsync("cdc.public.cap_kill", r => r.Count >= 100);
        await platform.App.KillResourceAsync("ingestor");
        var atKill = committed.Count;
        await Task.Delay(TimeSpan.FromSeconds(2));
        await platform.App.StartResourceAsync("ingestor");
        await Task.Delay(TimeSpan.FromSeconds(2));
        await stop.CancelAsync();
        await writer;
        output.WriteLine($"{committed.Count} upserts committed, {atKill} before the kill");
        Assert.True(committed.Count > atKill, "changes were committed while the Ingestor was down");

        var expected = await platform.RowsAsync("SELECT id::text, n::text FROM cap_kill");
        var records = await platform.Topics.ReadAsync("cdc.public.cap_kill",
            r => Matches(r, expected, "n") is null && Missing(r, committed).Count == 0, TimeSpan.FromSeconds(120));

        Assert.Empty(Missing(records, committed));
        Assert.Null(Matches(records, expected, "n"));
    }

    [Fact]
    public async Task AnIdleSlotAdvancesPastWalThePublicationDoesNotCarry()
    {
        // WAL the slot decodes but publishes nothing from: a table outside the publication (cap_nopk is refused).
        await platform.ExecuteAsync("INSERT INTO cap_nopk SELECT g, 'idle' FROM generate_series(1, 2000) g");
        var target = Lsn(await platform.ScalarAsync<string>("SELECT pg_current_wal_lsn()::text"));

        var confirmed = await Eventually.MatchesAsync(
            async () => Lsn(await platform.ScalarAsync<string>("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'platform_cdc'")),
            lsn => lsn >= target, TimeSpan.FromSeconds(60));

        Assert.True(confirmed >= target, $"confirmed_flush_lsn {confirmed} stayed behind {target}");
    }

    [Fact]
    public async Task TheSlotIsReportedThroughGaugesAndAHealthCheckThatNamesTheRetainedWal()
    {
        await platform.ExecuteAsync("INSERT INTO cap_items VALUES (500, 'metered', 1, now(), NULL, NULL)");

        // Cdc:SlotSizeWarningBytes is 1 on this platform: any retained WAL is past the warning.
        var health = await platform.WaitForCaptureAsync(d => d.Contains("slot platform_cdc retains", StringComparison.Ordinal));
        Assert.Matches(@"slot platform_cdc retains [0-9]+ bytes of WAL \(warning at 1\)", health);
        string[] instruments = ["cdc.slot.retained_bytes", "cdc.capture.lag_bytes", "cdc.changes.captured", "public.cap_items"];
        var missing = await Eventually.MatchesAsync(
            () => Task.FromResult(instruments.Where(i => !platform.Otlp.Received("metrics", i)).ToList()), m => m.Count == 0, TimeSpan.FromSeconds(30));
        Assert.Empty(missing);
    }

    [Fact]
    public async Task ADroppedSlotIsCreatedAgainAndEveryTableSnapshottedAgain()
    {
        await platform.ExecuteAsync("INSERT INTO cap_orders VALUES (70, 'before the drop')");
        var first = (await platform.Topics.ReadAsync("cdc.public.cap_orders", r => r.Any(x => x.Key == "{\"id\":\"70\"}"))).Single(r => r.Key == "{\"id\":\"70\"}");

        await platform.App.StopResourceAsync("ingestor");
        await Eventually.MatchesAsync(() => platform.ScalarAsync<bool>("SELECT NOT active FROM pg_replication_slots WHERE slot_name = 'platform_cdc'"), inactive => inactive);
        await platform.ExecuteAsync("SELECT pg_drop_replication_slot('platform_cdc')");
        // Changed while no slot existed: only a new snapshot can bring this to the topic.
        await platform.ExecuteAsync("UPDATE cap_orders SET status = 'while no slot' WHERE id = 70");
        await platform.App.StartResourceAsync("ingestor");

        var records = await platform.Topics.ReadAsync("cdc.public.cap_orders",
            r => r.Any(x => x.Key == "{\"id\":\"70\"}" && x.Op == "r" && x.Version > first.Version), TimeSpan.FromSeconds(90));
        var again = records.Where(r => r.Key == "{\"id\":\"70\"}" && r.Op == "r" && r.Version > first.Version).ToList();
        Assert.NotEmpty(again);
        Assert.Equal("while no slot", again[^1].Value("status"));
        Assert.Equal(again[^1], CaptureTopicReader.Latest(records)["{\"id\":\"70\"}"]);
        Assert.Equal(1L, await platform.ScalarAsync<long>("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'platform_cdc' AND plugin = 'pgoutput'"));
    }

    [Fact]
    public async Task AddedAndRetypedColumnsAppearInTheNextEnvelopesColumns()
    {
        await platform.ExecuteAsync("INSERT INTO cap_schema VALUES (1, 'one')");
        await platform.ExecuteAsync("ALTER TABLE cap_schema ADD COLUMN score int; INSERT INTO cap_schema VALUES (2, 'two', 7)");
        await platform.ExecuteAsync("ALTER TABLE cap_schema ALTER COLUMN label TYPE varchar(10); UPDATE cap_schema SET label = 'uno' WHERE id = 1");

        var records = await platform.Topics.ReadAsync("cdc.public.cap_schema", r => r.Count(x => !x.IsSnapshot) >= 3);
        var streamed = records.Where(r => !r.IsSnapshot).OrderBy(r => r.Version).ToList();

        string Columns(ChangeRecord r) => string.Join(", ", r.Envelope["columns"]!.AsArray().Select(c => $"{c!["name"]} {c["type"]}({c["typeModifier"]})"));
        Assert.Equal("id int4(-1), label text(-1)", Columns(streamed[0]));
        Assert.Equal("id int4(-1), label text(-1), score int4(-1)", Columns(streamed[1]));
        Assert.Equal("7", streamed[1].Value("score"));
        Assert.Equal("id int4(-1), label varchar(14), score int4(-1)", Columns(streamed[2]));
        Assert.Equal("uno", streamed[2].Value("label"));
        Assert.Null(streamed[2].Value("score"));
    }

    [Fact]
    public async Task ATruncateIsOneKeylessRecordVersionedBetweenTheChangesAroundIt()
    {
        await platform.ExecuteAsync("INSERT INTO cap_trunc VALUES (1), (2)");
        await platform.ExecuteAsync("TRUNCATE cap_trunc");
        await platform.ExecuteAsync("INSERT INTO cap_trunc VALUES (3)");

        var records = (await platform.Topics.ReadAsync("cdc.public.cap_trunc", r => r.Count(x => !x.IsSnapshot) >= 4))
            .Where(r => !r.IsSnapshot).OrderBy(r => r.Version).ToList();
        Assert.Equal(["c", "c", "t", "c"], records.Select(r => r.Op));
        var truncate = records[2];
        Assert.Null(truncate.Before);
        Assert.Null(truncate.After);
        Assert.Equal("{\"id\":null}", truncate.Key);
        Assert.Equal("3", records[3].Value("id"));
        Assert.NotNull(truncate.Source["txId"]);
    }

    [Fact]
    public async Task UnderASteadyWriteLoadChangesReachKafkaWithinSeconds()
    {
        // 20 transactions a second for 10 seconds, each updating a row of cap_load: how long from commit to Kafka.
        await using (var connection = await platform.OpenAsync())
        {
            var started = DateTime.UtcNow;
            for (var i = 0; i < 200; i++)
            {
                await platform.ExecuteAsync(connection, $"INSERT INTO cap_load VALUES ({i % 20}, {i}) ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.n");
                var due = started.AddMilliseconds(50 * (i + 1)) - DateTime.UtcNow;
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due);
                }
            }
        }

        var records = await platform.Topics.ReadAsync("cdc.public.cap_load", r => r.Count(x => !x.IsSnapshot) >= 200);
        var latencies = records.Where(r => !r.IsSnapshot)
            .Select(r => (r.ProducedAt - DateTimeOffset.Parse((string)r.Source["commitTime"]!, System.Globalization.CultureInfo.InvariantCulture).UtcDateTime).TotalMilliseconds)
            .Order().ToList();
        double Percentile(double p) => latencies[(int)Math.Ceiling(p * latencies.Count) - 1];
        output.WriteLine($"commit -> Kafka over {latencies.Count} changes at 20 tx/s: p50 {Percentile(0.5):F0} ms, p95 {Percentile(0.95):F0} ms, max {latencies[^1]:F0} ms");

        Assert.True(latencies.Count >= 200, $"{latencies.Count} changes captured");
        Assert.True(Percentile(0.95) < 5_000, $"p95 commit -> Kafka {Percentile(0.95):F0} ms");
    }

    private static List<(int Id, int N)> Missing(List<ChangeRecord> records, List<(int Id, int N)> committed)
    {
        var seen = records.Where(r => r.After is not null).Select(r => ((string)r.After!["id"]!, (string)r.After!["n"]!)).ToHashSet();
        lock (committed)
        {
            return committed.Where(c => !seen.Contains((c.Id.ToString(), c.N.ToString()))).ToList();
        }
    }

    /// <summary>Null when, per key, the winning record is the row PostgreSQL holds (or a delete for a row it no longer has); else the first difference.</summary>
    private static string? Matches(List<ChangeRecord> records, Dictionary<string, string?[]> expected, params string[] columns)
    {
        columns = columns.Length > 0 ? columns : ["n", "note"];
        var latest = CaptureTopicReader.Latest(records);
        foreach (var (id, values) in expected)
        {
            if (!latest.TryGetValue($"{{\"id\":\"{id}\"}}", out var record) || record.Op == "d")
            {
                return $"row {id} is missing or deleted on the topic";
            }

            for (var i = 0; i < columns.Length; i++)
            {
                if ((string?)record.After![columns[i]] != values[i])
                {
                    return $"row {id}: {columns[i]} is {record.After[columns[i]]} on the topic, {values[i]} in PostgreSQL";
                }
            }
        }

        var gone = latest.Where(l => !expected.ContainsKey((string)JsonNode.Parse(l.Key)!["id"]!) && l.Value.Op != "d").Select(l => l.Key).FirstOrDefault();
        return gone is null ? null : $"row {gone} was deleted in PostgreSQL but not on the topic";
    }

    private static void AssertEnvelope(ChangeRecord record, string op, string? before, string? after, long xid, JsonNode columns)
    {
        var envelope = record.Envelope;
        Assert.Equal(op, (string)envelope["op"]!);
        Assert.True(JsonNode.DeepEquals(before is null ? null : JsonNode.Parse(before), envelope["before"]), $"before: {envelope["before"]?.ToJsonString()}");
        Assert.True(JsonNode.DeepEquals(after is null ? null : JsonNode.Parse(after), envelope["after"]), $"after: {envelope["after"]?.ToJsonString()}");
        Assert.True(JsonNode.DeepEquals(columns, envelope["columns"]), $"columns: {envelope["columns"]?.ToJsonString()}");
        Assert.Equal(Tenant, (string)envelope["tenantId"]!);
        var source = record.Source;
        Assert.Equal("public", (string)source["schema"]!);
        Assert.Equal("cap_items", (string)source["table"]!);
        Assert.False((bool)source["snapshot"]!);
        Assert.Equal(xid, (long)source["txId"]!);
        Assert.Equal(record.Version, Lsn((string)source["lsn"]!));
        var commitTime = DateTimeOffset.Parse((string)source["commitTime"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(commitTime, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    private static ulong Lsn(string text)
    {
        var parts = text.Split('/');
        return (Convert.ToUInt64(parts[0], 16) << 32) | Convert.ToUInt64(parts[1], 16);
    }

    /// <summary>The tables the health description lists as streaming.</summary>
    internal static HashSet<string> StreamingList(string description)
    {
        var start = description.IndexOf("streaming: ", StringComparison.Ordinal);
        if (start < 0)
        {
            return [];
        }

        var list = description[(start + "streaming: ".Length)..];
        var end = list.IndexOf(';', StringComparison.Ordinal);
        list = end >= 0 ? list[..end] : list;
        return list.Split(", ").Select(t => t.TrimEnd('.')).Where(t => t.StartsWith("public.", StringComparison.Ordinal)).ToHashSet();
    }

    /// <summary>A platform whose Ingestor captures this class's tables, re-checking missing or refused ones every second.</summary>
    public sealed class CapturePlatform : PlatformFixture, IAsyncLifetime
    {
        private static readonly string[] Streamed = ["public.cap_items", "public.cap_orders", "public.cap_lines", "public.cap_kill", "public.cap_schema", "public.cap_trunc", "public.cap_load"];

        public CaptureTopicReader Topics => new(App);

        /// <summary>Receives the Ingestor's OpenTelemetry exports.</summary>
        internal OtlpReceiver Otlp { get; } = new();

        protected override bool WithDemoData => false;

        protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
        {
            ["Cdc:Tables"] = "cap_items,cap_orders,cap_lines,cap_nopk,cap_late,cap_snapshot,cap_kill,cap_schema,cap_trunc,cap_load",
            ["Resources:ingestor:Environment:Cdc__RecheckInterval"] = "00:00:01",
            ["Resources:ingestor:Environment:Cdc__SlotSizeWarningBytes"] = "1",
            ["Resources:ingestor:Environment:OTEL_EXPORTER_OTLP_ENDPOINT"] = Otlp.Url,
            ["Resources:ingestor:Environment:OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["Resources:ingestor:Environment:OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        };

        public new async Task InitializeAsync()
        {
            await base.InitializeAsync();
            await ExecuteAsync("""
                CREATE TABLE cap_items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2), seen_at timestamptz, tags text[], note varchar(20));
                CREATE TABLE cap_orders (id bigint PRIMARY KEY, status text NOT NULL);
                CREATE TABLE cap_lines (order_id bigint, line int, sku text NOT NULL, PRIMARY KEY (order_id, line));
                CREATE TABLE cap_nopk (x int, y text);
                CREATE TABLE cap_late (id int NOT NULL, v text);
                INSERT INTO cap_late VALUES (1, 'before the key');
                CREATE TABLE cap_kill (id int PRIMARY KEY, n int NOT NULL);
                CREATE TABLE cap_schema (id int PRIMARY KEY, label text);
                CREATE TABLE cap_trunc (id int PRIMARY KEY);
                CREATE TABLE cap_load (id int PRIMARY KEY, n int NOT NULL);
                """);
            var health = await WaitForCaptureAsync(d => Streamed.All(StreamingList(d).Contains), TimeSpan.FromSeconds(120));
            if (!Streamed.All(StreamingList(health).Contains))
            {
                throw new InvalidOperationException($"The capture did not pick up the test tables: {health}");
            }
        }

        public new async Task DisposeAsync()
        {
            await base.DisposeAsync();
            Otlp.Dispose();
        }

        public async Task<NpgsqlConnection> OpenAsync()
        {
            var connection = new NpgsqlConnection(App["app"].ConnectionString);
            await connection.OpenAsync();
            return connection;
        }

        public async Task ExecuteAsync(string sql)
        {
            await using var connection = await OpenAsync();
            await ExecuteAsync(connection, sql);
        }

        public async Task ExecuteAsync(NpgsqlConnection connection, string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }

        public async Task<T> ScalarAsync<T>(string sql)
        {
            await using var connection = await OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            return (T)(await command.ExecuteScalarAsync())!;
        }

        /// <summary>Rows by their first column (the id), the other columns as text.</summary>
        public async Task<Dictionary<string, string?[]>> RowsAsync(string sql)
        {
            await using var connection = await OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new Dictionary<string, string?[]>();
            while (await reader.ReadAsync())
            {
                rows[reader.GetString(0)] = Enumerable.Range(1, reader.FieldCount - 1).Select(i => reader.IsDBNull(i) ? null : reader.GetString(i)).ToArray();
            }

            return rows;
        }

        /// <summary>The cdc-capture health check's description once it satisfies the condition (or the last one after the timeout).</summary>
        public async Task<string> WaitForCaptureAsync(Func<string, bool> condition, TimeSpan? timeout = null)
        {
            using var client = CreateHttpClient("ingestor");
            return await Eventually.MatchesAsync(async () => (string?)(await HealthAsync(client))["description"] ?? "", condition, timeout ?? TimeSpan.FromSeconds(90));
        }

        public async Task<string> CaptureHealthStatusAsync()
        {
            using var client = CreateHttpClient("ingestor");
            return (string)(await HealthAsync(client))["status"]!;
        }

        public string IngestorLog() => LogOf("ingestor");

        private static async Task<JsonObject> HealthAsync(HttpClient client)
        {
            try
            {
                var report = JsonNode.Parse(await client.GetStringAsync("/health"))!;
                return report["checks"]?["cdc-capture"]?.AsObject() ?? [];
            }
            catch (HttpRequestException)
            {
                return []; // restarting
            }
        }
    }
}
