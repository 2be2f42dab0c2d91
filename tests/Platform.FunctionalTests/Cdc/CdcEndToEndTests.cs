using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;
using Platform.ClickHouse;
using Platform.Testing;
using Xunit.Abstractions;

namespace Platform.FunctionalTests.Cdc;

/// <summary>The bridge's tables, created in the app database once the platform is up; the Ingestor picks them up on a restart.</summary>
public sealed class CdcPlatform : PlatformFixture
{
    public const string TenantId = "cdc-e2e";

    protected override bool WithDemoData => false;

    protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
    {
        ["Cdc:TenantId"] = TenantId,
        ["Cdc:Tables"] = "e2e_accounts,e2e_items,e2e_snapshot,e2e_evolving,e2e_retyped,e2e_nopk,e2e_truncated",
    };

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await ExecuteAsync("""
            CREATE TABLE e2e_accounts (id bigint PRIMARY KEY, name text NOT NULL, plan text NOT NULL, changed_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE e2e_items (id bigint PRIMARY KEY, account_id bigint NOT NULL, name text, qty int, price numeric(10,2), active boolean NOT NULL DEFAULT true, changed_at timestamptz);
            CREATE TABLE e2e_evolving (id text PRIMARY KEY, label text NOT NULL);
            CREATE TABLE e2e_retyped (id bigint PRIMARY KEY, qty int NOT NULL);
            CREATE TABLE e2e_nopk (id bigint, note text);
            CREATE TABLE e2e_truncated (id bigint PRIMARY KEY, note text NOT NULL);
            """);
        await RestartIngestorAsync();

        // Rows written before a table's snapshot ends arrive as snapshot rows (no transaction id): the tests start once every table streams.
        foreach (var table in new[] { "e2e_accounts", "e2e_items", "e2e_evolving", "e2e_retyped", "e2e_truncated" })
        {
            var status = await Eventually.MatchesAsync(() => TableStatusAsync(table), s => (string?)s?["status"] == "streaming", TimeSpan.FromSeconds(60));
            Assert.Equal("streaming", (string?)status?["status"]);
        }
    }

    public string AppConnectionString => App["app"].ConnectionString!;

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(AppConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task RestartIngestorAsync()
    {
        await App.StopResourceAsync("ingestor");
        await App.StartResourceAsync("ingestor");
    }

    /// <summary>The rows PostgreSQL holds, one line per row ordered by key, in the same rendering as <see cref="ReplicatedAsync"/>.</summary>
    public async Task<List<string>> SourceAsync(string table, string columns)
    {
        await using var connection = new NpgsqlConnection(AppConnectionString);
        await connection.OpenAsync();
        var rendered = string.Join(" || '|' || ", columns.Split(',').Select(c => $"coalesce(({Pg(c.Trim())})::text, '-')"));
        await using var command = new NpgsqlCommand($"SELECT {rendered} FROM {table} ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;

        static string Pg(string column) => column switch
        {
            "changed_at" => "floor(extract(epoch from changed_at))::bigint", // ClickHouse keeps whole seconds
            "active" => "active::int",
            "price" => "price::float8",
            _ => column,
        };
    }

    /// <summary>The current rows of the table's view in ClickHouse, for this tenant.</summary>
    public async Task<List<string>> ReplicatedAsync(string table, string columns)
    {
        var rendered = string.Join(", '|', ", columns.Split(',').Select(c => $"ifNull(toString({Ch(c.Trim())}), '-')"));
        try
        {
            var text = await Probe.ClickHouse.QueryScalarAsync(
                $"SELECT concat({rendered}) FROM cdc_{table}_current WHERE tenant_id = {ClickHouseSql.Literal(TenantId)} ORDER BY id");
            return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries)];
        }
        catch (ClickHouseServerException ex) when (ex.Code is 60 or 47)
        {
            return []; // the bridge creates the table with its first change, and a column with the first change that has it
        }

        static string Ch(string column) => column == "changed_at" ? "toUnixTimestamp(changed_at)" : column;
    }

    /// <summary>Waits until ClickHouse shows exactly what PostgreSQL holds.</summary>
    public async Task AssertReplicatedAsync(string table, string columns, TimeSpan? timeout = null)
    {
        var expected = await SourceAsync(table, columns);
        var actual = await Eventually.MatchesAsync(() => ReplicatedAsync(table, columns), rows => rows.SequenceEqual(expected), timeout ?? TimeSpan.FromSeconds(60));
        Assert.Equal(expected, actual);
    }

    /// <summary>The bridge's own account of one table, from the Ingestor's status.</summary>
    public async Task<JsonObject?> TableStatusAsync(string table)
    {
        using var http = CreateHttpClient("ingestor");
        var status = await http.GetFromJsonAsync<JsonObject>("/v1/status");
        return status?["cdc"]?["tables"]?.AsArray().OfType<JsonObject>()
            .FirstOrDefault(t => (string?)t["table"] == $"public.{table}");
    }
}

public sealed class CdcEndToEndTests(CdcPlatform platform, ITestOutputHelper output) : IClassFixture<CdcPlatform>
{
    private const string ItemColumns = "id, account_id, name, qty, price, active, changed_at";

    [Fact]
    public async Task InsertsUpdatesDeletesAndTransactionsAcrossTablesArriveWithTheirFinalState()
    {
        await platform.ExecuteAsync("""
            INSERT INTO e2e_accounts (id, name, plan) VALUES (1, 'Acme', 'team'), (2, 'Globex', 'free');
            INSERT INTO e2e_items VALUES (1, 1, 'anvil', 3, 19.99, true, '2026-01-02T03:04:05Z'), (2, 1, 'rope', NULL, NULL, false, NULL), (3, 2, 'tnt', 10, 5.5, true, now());
            UPDATE e2e_items SET qty = qty + 1, name = 'anvil XL' WHERE id = 1;
            DELETE FROM e2e_items WHERE id = 2;
            UPDATE e2e_accounts SET plan = 'business' WHERE id = 1;
            BEGIN;
            INSERT INTO e2e_accounts (id, name, plan) VALUES (3, 'Initech', 'enterprise');
            INSERT INTO e2e_items VALUES (4, 3, 'stapler', 1, 9.5, true, now());
            UPDATE e2e_items SET account_id = 3 WHERE id = 3;
            COMMIT;
            BEGIN;
            INSERT INTO e2e_accounts (id, name, plan) VALUES (99, 'Never', 'free');
            ROLLBACK;
            """);

        await platform.AssertReplicatedAsync("e2e_items", ItemColumns);
        await platform.AssertReplicatedAsync("e2e_accounts", "id, name, plan, changed_at");
        var items = await platform.ReplicatedAsync("e2e_items", ItemColumns);
        Assert.Equal("1|1|anvil XL|4|19.99|1|1767323045", items[0]);
        Assert.Equal(["1", "3", "4"], items.Select(r => r.Split('|')[0]).Where(id => id.Length == 1));

        // One transaction, one transaction id on both tables; the deleted row is a tombstone the view hides.
        var versions = await platform.Probe.ClickHouse.QueryScalarAsync(
            "SELECT 'a', id, _op, _tx_id, _version FROM cdc_e2e_accounts WHERE id = 3 UNION ALL SELECT 'i', id, _op, _tx_id, _version FROM cdc_e2e_items WHERE id = 4");
        var tx = await platform.Probe.ClickHouse.QueryScalarAsync(
            "SELECT toString(uniqExact(_tx_id)) FROM (SELECT _tx_id FROM cdc_e2e_accounts FINAL WHERE id = 3 UNION ALL SELECT _tx_id FROM cdc_e2e_items FINAL WHERE id = 4)");
        Assert.True(tx.Trim() == "1", versions);
        Assert.Equal("1", (await platform.Probe.ClickHouse.QueryScalarAsync("SELECT toString(max(is_deleted)) FROM cdc_e2e_items FINAL WHERE id = 2")).Trim());
        Assert.Equal("cdc-e2e", (await platform.Probe.ClickHouse.QueryScalarAsync("SELECT arrayStringConcat(groupUniqArray(tenant_id), ',') FROM cdc_e2e_items")).Trim());
    }

    [Fact]
    public async Task TheIngestorKilledMidStreamResumesWithNothingLostAndNothingWrong()
    {
        using var stop = new CancellationTokenSource();
        var writer = WriteSteadilyAsync("e2e_items", 1000, stop.Token);
        await Task.Delay(TimeSpan.FromSeconds(2));
        await platform.App.KillResourceAsync("ingestor");
        await Task.Delay(TimeSpan.FromSeconds(2));
        await platform.App.StartResourceAsync("ingestor");
        await Task.Delay(TimeSpan.FromSeconds(2));
        await stop.CancelAsync();
        var written = await writer;

        Assert.True(written > 50, $"only {written} changes were written");
        await platform.AssertReplicatedAsync("e2e_items", ItemColumns, TimeSpan.FromSeconds(90));
    }

    [Fact]
    public async Task PostgresStoppedForThirtySecondsUnderLoadKeepsKnownKeysWorkingAndTheBridgeResumesFromItsSlot()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);
        var sender = new EventSender(collector, "postgres-30s", batchSize: 25);
        using var stopSending = new CancellationTokenSource();
        var sending = sender.RunAsync(TimeSpan.FromMilliseconds(20), stopSending.Token);
        await api.CountUntilAsync(100);

        // Changes committed up to the moment PostgreSQL stops, so some are still on their way to the bridge.
        using var stopWriting = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var writtenBefore = await WriteSteadilyAsync("e2e_items", 100_000, stopWriting.Token);
        await platform.App.StopResourceAsync("postgres");
        var acceptedAtStop = sender.AcceptedCount;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(30)); // longer than a key's cache time: the outage grace keeps it working
            Assert.True(sender.AcceptedCount >= acceptedAtStop + 500, $"only {sender.AcceptedCount - acceptedAtStop} events accepted while PostgreSQL was down");
            Assert.Equal(0, sender.Refusals);
        }
        finally
        {
            await platform.App.StartResourceAsync("postgres");
        }

        var started = Stopwatch.StartNew();
        NpgsqlConnection.ClearAllPools(); // the pool's connections died with the server
        using var stopWritingAgain = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var writtenAfter = await WriteSteadilyAsync("e2e_items", 200_000, stopWritingAgain.Token);
        await platform.AssertReplicatedAsync("e2e_items", ItemColumns, TimeSpan.FromSeconds(90));
        var recovery = started.Elapsed;
        await stopSending.CancelAsync();
        await sending;

        output.WriteLine($"CDC: {writtenBefore} changes before the stop and {writtenAfter} after it replicated exactly, {recovery.TotalSeconds:0.0} s after PostgreSQL's start");
        await Acknowledgements.AssertCountedExactlyOnceAsync(platform, output, api, tenant.Id, sender, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(1),
            $"PostgreSQL stopped 30 s ({sender.AcceptedCount - acceptedAtStop} events accepted meanwhile)");
    }

    [Fact]
    public async Task TheDevBrokersHostRestartedEmptyMeans503sWhileItIsGoneAndTheBridgeSnapshotsAgainWhatItLost()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);
        var kafka = platform.App.Resource<AppHost.Infrastructure.KafkaDevBrokerResource>("kafka");
        var sender = new EventSender(collector, "broker-restart", batchSize: 25);
        // Events acknowledged before the restart are stored first: what the dev broker still holds when its host goes is
        // what it cannot keep (docs/drills.md); every event acknowledged from the restart on must be stored.
        using (var warmUp = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
        {
            await sender.RunAsync(TimeSpan.FromMilliseconds(20), warmUp.Token);
        }

        await api.CountUntilAsync(sender.AcceptedCount);

        // Changes committed up to the restart: the last of them are acknowledged by Kafka (so confirmed in the slot) but not yet applied.
        using var stopWriting = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var writtenBefore = await WriteSteadilyAsync("e2e_items", 300_000, stopWriting.Token);
        var restart = kafka.RestartEmptyAsync(TimeSpan.FromSeconds(10)); // down before it first awaits
        var acceptedAtRestart = sender.AcceptedCount;
        using var stopSending = new CancellationTokenSource();
        var sending = sender.RunAsync(TimeSpan.FromMilliseconds(20), stopSending.Token);
        await restart;
        var up = Stopwatch.StartNew();
        Assert.Equal(acceptedAtRestart, sender.AcceptedCount); // nothing acknowledged while the broker was gone
        Assert.True(sender.Refusals > 0, "the Collector refused nothing while the broker was gone");

        using var stopWritingAgain = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var writtenAfter = await WriteSteadilyAsync("e2e_items", 400_000, stopWritingAgain.Token);
        await platform.AssertReplicatedAsync("e2e_items", ItemColumns, TimeSpan.FromSeconds(120));
        var recovery = up.Elapsed;
        var status = await platform.TableStatusAsync("e2e_items");
        Assert.False(string.IsNullOrEmpty((string?)status?["lastLoss"]), status?.ToJsonString());
        Assert.Contains("the table is snapshotted again", platform.LogOf("ingestor"));
        await stopSending.CancelAsync();
        await sending;

        output.WriteLine($"CDC: {writtenBefore} changes before the restart, {writtenAfter} after; ClickHouse matched PostgreSQL {recovery.TotalSeconds:0.0} s after the broker came back; {status?["lastLoss"]}");
        await Acknowledgements.AssertCountedExactlyOnceAsync(platform, output, api, tenant.Id, sender, TimeSpan.FromSeconds(90), TimeSpan.FromSeconds(11),
            $"the broker's host restarted empty after 10 s down ({sender.Refusals} refusals meanwhile)");
    }

    [Fact]
    public async Task ATableWithRowsIsSnapshottedThenStreamedWhileChangesKeepComing()
    {
        await platform.ExecuteAsync("""
            CREATE TABLE e2e_snapshot (id bigint PRIMARY KEY, account_id bigint NOT NULL, name text, qty int, price numeric(10,2), active boolean NOT NULL DEFAULT true, changed_at timestamptz);
            INSERT INTO e2e_snapshot SELECT g, g % 7, 'row ' || g, g % 100, (g % 1000) / 10.0, g % 3 > 0, now() FROM generate_series(1, 20000) g;
            """);
        using var stop = new CancellationTokenSource();
        var writer = WriteSteadilyAsync("e2e_snapshot", 1, stop.Token);
        await platform.RestartIngestorAsync(); // the bridge finds a new table: snapshot, then stream
        await Task.Delay(TimeSpan.FromSeconds(3));
        await stop.CancelAsync();
        await writer;

        await platform.AssertReplicatedAsync("e2e_snapshot", ItemColumns, TimeSpan.FromSeconds(120));
        var status = await platform.TableStatusAsync("e2e_snapshot");
        // The writer deletes some rows before the snapshot reads them.
        Assert.True(status is not null && (long?)status["snapshotRows"] > 19_000 && (string?)status["status"] == "streaming", status?.ToJsonString());
    }

    [Fact]
    public async Task AnAddedColumnFlowsThrough()
    {
        await platform.ExecuteAsync("INSERT INTO e2e_evolving VALUES ('a', 'before')");
        await platform.AssertReplicatedAsync("e2e_evolving", "id, label");

        await platform.ExecuteAsync("""
            ALTER TABLE e2e_evolving ADD COLUMN score int;
            INSERT INTO e2e_evolving VALUES ('b', 'after', 42);
            UPDATE e2e_evolving SET score = 7 WHERE id = 'a';
            """);
        await platform.AssertReplicatedAsync("e2e_evolving", "id, label, score");
        Assert.Equal(["a|before|7", "b|after|42"], await platform.ReplicatedAsync("e2e_evolving", "id, label, score"));
    }

    [Fact]
    public async Task ATruncateEmptiesTheReplicatedTableAndRowsWrittenAfterItFlowOn()
    {
        await platform.ExecuteAsync("INSERT INTO e2e_truncated SELECT g, 'before ' || g FROM generate_series(1, 50) g");
        await platform.AssertReplicatedAsync("e2e_truncated", "id, note");
        Assert.Equal(50, (await platform.ReplicatedAsync("e2e_truncated", "id, note")).Count);

        // A TRUNCATE and new rows in one transaction, then more: only the rows written after it remain.
        await platform.ExecuteAsync("""
            BEGIN;
            TRUNCATE e2e_truncated;
            INSERT INTO e2e_truncated VALUES (7, 'after, same key'), (60, 'after, same transaction');
            COMMIT;
            INSERT INTO e2e_truncated VALUES (61, 'after');
            UPDATE e2e_truncated SET note = 'after, updated' WHERE id = 7;
            """);
        await platform.AssertReplicatedAsync("e2e_truncated", "id, note");
        Assert.Equal(["7|after, updated", "60|after, same transaction", "61|after"], await platform.ReplicatedAsync("e2e_truncated", "id, note"));
    }

    [Fact]
    public async Task ARetypedColumnStopsThatTableWithAClearErrorAndOthersGoOn()
    {
        await platform.ExecuteAsync("INSERT INTO e2e_retyped VALUES (1, 5)");
        await platform.AssertReplicatedAsync("e2e_retyped", "id, qty");

        await platform.ExecuteAsync("""
            ALTER TABLE e2e_retyped ALTER COLUMN qty TYPE text;
            INSERT INTO e2e_retyped VALUES (2, 'many');
            INSERT INTO e2e_accounts (id, name, plan) VALUES (50, 'After retype', 'free');
            """);

        var status = await Eventually.MatchesAsync(() => platform.TableStatusAsync("e2e_retyped"), s => (string?)s?["status"] == "stopped", TimeSpan.FromSeconds(60));
        Assert.Equal("stopped", (string?)status?["status"]);
        Assert.Contains("qty", (string?)status?["error"]);
        Assert.Contains("retyped", (string?)status?["error"], StringComparison.OrdinalIgnoreCase);
        Assert.Equal(["1|5"], await platform.ReplicatedAsync("e2e_retyped", "id, qty")); // nothing half-applied
        await platform.AssertReplicatedAsync("e2e_accounts", "id, name, plan");
    }

    [Fact]
    public async Task ATableWithoutAPrimaryKeyIsRefusedWithAClearMessage()
    {
        var status = await Eventually.MatchesAsync(() => platform.TableStatusAsync("e2e_nopk"), s => (string?)s?["status"] == "refused", TimeSpan.FromSeconds(30));
        Assert.Equal("refused", (string?)status?["status"]);
        Assert.Contains("primary key", (string?)status?["error"], StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Inserts, updates and deletes rows with ids from <paramref name="firstId"/> until cancelled; returns the changes made.</summary>
    private async Task<int> WriteSteadilyAsync(string table, long firstId, CancellationToken stop)
    {
        await using var connection = new NpgsqlConnection(platform.AppConnectionString);
        await connection.OpenAsync(CancellationToken.None);
        var random = new Random(7);
        var changes = 0;
        var next = firstId;
        while (!stop.IsCancellationRequested)
        {
            var id = next - random.Next(0, 30);
            var sql = (changes % 5) switch
            {
                0 or 1 => $"INSERT INTO {table} VALUES ({next++}, 1, 'w{changes}', {changes % 50}, 1.25, true, now()) ON CONFLICT (id) DO NOTHING",
                2 or 3 => $"UPDATE {table} SET qty = coalesce(qty, 0) + 1, name = 'u{changes}', changed_at = now() WHERE id = {id}",
                _ => $"DELETE FROM {table} WHERE id = {id}",
            };
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync(CancellationToken.None);
            changes++;
            await Task.Delay(5, CancellationToken.None);
        }

        return changes;
    }
}
