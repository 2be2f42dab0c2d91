using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;
using Transformer.Retention;

namespace Transformer.Tests;

[Collection(TransformerCollection.Name)]
public class RetentionTests(TransformerClickHouse clickHouse)
{
    // Today is 2026-11-21: 180 days back is 2026-05-25, so March and April end before the cutoff and
    // May holds it.
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 15, 30, 0, TimeSpan.Zero);
    private static readonly string[] Tenants = ["a", "b", "c"];
    private static readonly string[] Months = ["2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10"];

    [Fact]
    public async Task ExactlyTheMonthsBeforeTheCutoffAreDroppedFromRawEvents()
    {
        var client = await clickHouse.NewDatabaseAsync("retention");
        await SeedRawEventsAsync(client);

        var actions = await Runner(client).RunAsync(RawEvents(new TableRetention { Days = 180 }), dryRun: false, CancellationToken.None);

        Assert.Equal(
            [Drop("202603", 6), Drop("202604", 6)],
            actions.Select(Describe));
        Assert.Equal("202605,202606,202607,202608,202609,202610", await ActivePartitionsAsync(client, "raw_events"));
        Assert.Equal("a:12,b:12,c:12", await RowsPerTenantAsync(client, "raw_events"));
        Assert.Equal("2026-05-10", await client.QueryScalarAsync("SELECT toDate(min(event_time)) FROM raw_events"));
    }

    [Fact]
    public async Task ALongerTenantOverrideKeepsItsPartitionAndDeletesOnlyTheOthersRowsInIt()
    {
        var client = await clickHouse.NewDatabaseAsync("retention");
        await SeedRawEventsAsync(client);
        // a keeps 230 days (cutoff 2026-04-05): March is expired for everyone, April is not for a.
        var retention = new TableRetention { Days = 180, Tenants = { ["a"] = 230 } };

        var actions = await Runner(client).RunAsync(RawEvents(retention), dryRun: false, CancellationToken.None);
        await WaitForMutationsAsync(client);

        Assert.Equal(
            [Drop("202603", 6), Delete("202604", "b", "2026-05-01", 2), Delete("202604", "c", "2026-05-01", 2)],
            actions.Select(Describe));
        Assert.Equal("202604,202605,202606,202607,202608,202609,202610", await ActivePartitionsAsync(client, "raw_events"));
        Assert.Equal("a:14,b:12,c:12", await RowsPerTenantAsync(client, "raw_events"));
        Assert.Equal("a:2", await client.QueryScalarAsync(
            "SELECT arrayStringConcat(groupArray(concat(tenant_id, ':', toString(n))), ',') FROM (SELECT tenant_id, count() AS n FROM raw_events WHERE toYYYYMM(event_time) = 202604 GROUP BY tenant_id ORDER BY tenant_id)"));
    }

    [Fact]
    public async Task ALongerOverrideAlsoDeletesThatTenantsOwnExpiredRowsInThePartitionItKeeps()
    {
        var client = await clickHouse.NewDatabaseAsync("retention");
        await SeedRawEventsAsync(client);
        // a keeps 250 days (cutoff 2026-03-16): its 03-10 row is expired, its 03-28 row keeps March.
        var retention = new TableRetention { Days = 180, Tenants = { ["a"] = 250 } };

        var actions = await Runner(client).RunAsync(RawEvents(retention), dryRun: false, CancellationToken.None);
        await WaitForMutationsAsync(client);

        Assert.Equal(
            [Delete("202603", "a", "2026-03-16", 1), Delete("202603,202604", "b", "2026-05-01", 4), Delete("202603,202604", "c", "2026-05-01", 4)],
            actions.Select(Describe));
        Assert.Equal("a:15,b:12,c:12", await RowsPerTenantAsync(client, "raw_events"));
        Assert.Equal("2026-03-28", await client.QueryScalarAsync("SELECT toDate(min(event_time)) FROM raw_events"));
    }

    [Fact]
    public async Task AShorterTenantOverrideDeletesOnlyThatTenantsRowsPastItsCutoff()
    {
        var client = await clickHouse.NewDatabaseAsync("retention");
        await SeedRawEventsAsync(client);
        // c keeps 60 days: cutoff 2026-09-22.
        var retention = new TableRetention { Days = 180, Tenants = { ["c"] = 60 } };

        var actions = await Runner(client).RunAsync(RawEvents(retention), dryRun: false, CancellationToken.None);
        await WaitForMutationsAsync(client);

        Assert.Equal(
            [Drop("202603", 6), Drop("202604", 6), Delete("202605,202606,202607,202608,202609", "c", "2026-09-22", 9)],
            actions.Select(Describe));
        Assert.Equal("a:12,b:12,c:3", await RowsPerTenantAsync(client, "raw_events"));
        Assert.Equal("2026-09-28", await client.QueryScalarAsync("SELECT toDate(min(event_time)) FROM raw_events WHERE tenant_id = 'c'"));
    }

    [Fact]
    public async Task DailyPartitionsAreDroppedExactlyForTheirExpiredDays()
    {
        var client = await clickHouse.NewDatabaseAsync("retention");
        await client.ExecuteAsync("CREATE TABLE t (tenant_id String, day Date, n UInt64) ENGINE = MergeTree PARTITION BY day ORDER BY (tenant_id, day)");
        await client.ExecuteAsync("CREATE TABLE t_ymd (tenant_id String, ts DateTime('UTC'), n UInt64) ENGINE = MergeTree PARTITION BY toYYYYMMDD(ts) ORDER BY (tenant_id, ts)");
        // 2026-11-05 .. 2026-11-21 for a and b; 7 days back from 2026-11-21 is 2026-11-14.
        await client.ExecuteAsync("INSERT INTO t SELECT tenant, toDate('2026-11-05') + number, 1 FROM numbers(17) ARRAY JOIN ['a', 'b'] AS tenant");
        await client.ExecuteAsync("INSERT INTO t_ymd SELECT tenant_id, toDateTime(day, 'UTC') + 3600, n FROM t");
        var tables = new Dictionary<string, TableRetention>
        {
            ["t"] = new() { Days = 7, TimeColumn = "day" },
            // b keeps 3 days here (cutoff 2026-11-18): a DELETE against a DateTime column on day partitions.
            ["t_ymd"] = new() { Days = 7, TimeColumn = "ts", Tenants = { ["b"] = 3 } },
        };

        var actions = await Runner(client).RunAsync(tables, dryRun: false, CancellationToken.None);
        await WaitForMutationsAsync(client);

        string[] expiredDays = ["20261105", "20261106", "20261107", "20261108", "20261109", "20261110", "20261111", "20261112", "20261113"];
        Assert.Equal(
            expiredDays.Select(d => Drop(d, 2, "t", "2026-11-14"))
                .Concat(expiredDays.Select(d => Drop(d, 2, "t_ymd", "2026-11-14")))
                .Append(Delete("20261114,20261115,20261116,20261117", "b", "2026-11-18", 4, "t_ymd")),
            actions.Select(Describe));
        Assert.Equal("20261114,20261115,20261116,20261117,20261118,20261119,20261120,20261121", await ActivePartitionsAsync(client, "t"));
        Assert.Equal("2026-11-14", await client.QueryScalarAsync("SELECT min(partition) FROM system.parts WHERE database = currentDatabase() AND table = 't' AND active"));
        Assert.Equal("a:8,b:8", await RowsPerTenantAsync(client, "t"));
        Assert.Equal("a:8,b:4", await RowsPerTenantAsync(client, "t_ymd"));
    }

    [Fact]
    public async Task ADryRunChangesNothingButReportsAndRecordsTheSamePlan()
    {
        var client = await clickHouse.NewDatabaseAsync("retention");
        await SeedRawEventsAsync(client);
        var tables = RawEvents(new TableRetention { Days = 180, Tenants = { ["a"] = 230, ["c"] = 60 } });
        var runner = Runner(client);

        var planned = await runner.RunAsync(tables, dryRun: true, CancellationToken.None);

        Assert.NotEmpty(planned);
        Assert.Equal(Months.Select(m => m.Replace("-", "", StringComparison.Ordinal)), (await ActivePartitionsAsync(client, "raw_events")).Split(','));
        Assert.Equal("a:16,b:16,c:16", await RowsPerTenantAsync(client, "raw_events"));
        Assert.Equal("0", await client.QueryScalarAsync("SELECT count() FROM system.mutations WHERE database = currentDatabase()"));
        Assert.Equal(planned.Select(Describe).Order(), await LoggedAsync(client, dryRun: 1));

        var done = await runner.RunAsync(tables, dryRun: false, CancellationToken.None);

        Assert.Equal(planned, done);
        Assert.Equal(planned.Select(Describe).Order(), await LoggedAsync(client, dryRun: 0));
    }

    [Fact]
    public async Task ASecondRunAfterTheFirstPlansNothing()
    {
        var client = await clickHouse.NewDatabaseAsync("retention");
        await SeedRawEventsAsync(client);
        var tables = RawEvents(new TableRetention { Days = 180, Tenants = { ["a"] = 230, ["c"] = 60 } });
        var runner = Runner(client);

        var first = await runner.RunAsync(tables, dryRun: false, CancellationToken.None);
        await WaitForMutationsAsync(client);
        var second = await runner.RunAsync(tables, dryRun: false, CancellationToken.None);

        Assert.Contains(first, a => a.Action == RetentionAction.DropPartition);
        Assert.Contains(first, a => a.Action == RetentionAction.DeleteRows);
        Assert.Empty(second);
    }

    [Fact]
    public async Task ATenantsDeleteIsNotPlannedAgainWhileAMutationForItIsUnfinished()
    {
        var client = await clickHouse.NewDatabaseAsync("retention");
        await SeedRawEventsAsync(client);
        // A mutation that fails on every part stays unfinished (is_done = 0) until the table is dropped.
        await client.ExecuteAsync("ALTER TABLE raw_events DELETE WHERE tenant_id = 'c' AND throwIf(event_id != '') = 0");
        var tables = RawEvents(new TableRetention { Days = 180, Tenants = { ["b"] = 60, ["c"] = 60 } });

        try
        {
            var actions = await new RetentionPlanner(client, new FixedTimeProvider(Now)).PlanAsync(tables, CancellationToken.None);

            Assert.Equal(
                [Drop("202603", 6), Drop("202604", 6), Delete("202605,202606,202607,202608,202609", "b", "2026-09-22", 9)],
                actions.Select(Describe));
        }
        finally
        {
            await client.ExecuteAsync("DROP TABLE raw_events");
        }
    }

    [Fact]
    public async Task AMissingTableIsSkippedAndTheOthersStillRun()
    {
        var client = await clickHouse.NewDatabaseAsync("retention");
        await SeedRawEventsAsync(client);
        var tables = new Dictionary<string, TableRetention>
        {
            ["no_such_table"] = new() { Days = 1 },
            ["raw_events"] = new() { Days = 180 },
        };

        var actions = await Runner(client).RunAsync(tables, dryRun: false, CancellationToken.None);

        Assert.Equal([Drop("202603", 6), Drop("202604", 6)], actions.Select(Describe));
        Assert.Equal("202605,202606,202607,202608,202609,202610", await ActivePartitionsAsync(client, "raw_events"));
    }

    [Fact]
    public async Task AFailingActionIsRecordedWithItsErrorAndTheNextOneStillRuns()
    {
        var client = await clickHouse.NewDatabaseAsync("retention");
        await SeedRawEventsAsync(client);
        var runner = Runner(client);
        var failing = new RetentionAction("raw_events", RetentionAction.DeleteRows, "202603", "a", new DateOnly(2026, 5, 25), 2)
        {
            Statement = "ALTER TABLE raw_events DELETE WHERE no_such_column = 1",
        };
        var working = new RetentionAction("raw_events", RetentionAction.DropPartition, "202603", null, new DateOnly(2026, 5, 25), 6)
        {
            Statement = "ALTER TABLE raw_events DROP PARTITION ID '202603'",
        };

        await runner.ExecuteAsync([failing, working], dryRun: false, CancellationToken.None);

        Assert.Equal("202604,202605,202606,202607,202608,202609,202610", await ActivePartitionsAsync(client, "raw_events"));
        var errors = (await client.QueryScalarAsync("SELECT action, error != '', positionCaseInsensitive(error, 'no_such_column') > 0 FROM retention_log ORDER BY action")).Split('\n');
        Assert.Equal(["delete_rows\t1\t1", "drop_partition\t0\t0"], errors);
    }

    [Fact]
    public async Task AnUnreachableClickHouseFailsTheRunWithoutThrowing()
    {
        var unreachable = new ClickHouseClient(new HttpClient(), ClickHouseConnectionSettings.Parse("Endpoint=http://127.0.0.1:9;Database=nowhere"));
        var options = Options.Create(new TransformerOptions());
        var logger = new ListLogger<RetentionService>();
        var service = new RetentionService(options, new ConfiguredRetentionTables(options), Runner(unreachable), TimeProvider.System, logger);

        await service.RunOnceAsync(CancellationToken.None);

        Assert.Contains(logger.Errors, e => e is ClickHouseUnavailableException);
    }

    [Fact]
    public void AddRetentionRegistersTheScheduledServiceAndWhatItNeeds()
    {
        var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(new ClickHouseClient(new HttpClient(), ClickHouseConnectionSettings.Parse("Endpoint=http://127.0.0.1:9")))
            .AddRetention();
        services.AddOptions<TransformerOptions>();
        using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        Assert.IsType<RetentionService>(Assert.Single(provider.GetServices<IHostedService>()));
        Assert.IsType<ConfiguredRetentionTables>(provider.GetRequiredService<IRetentionTables>());
        Assert.Equal(180, provider.GetRequiredService<IRetentionTables>().Resolve()["raw_events"].Days);
    }

    private static RetentionRunner Runner(ClickHouseClient client)
    {
        var time = new FixedTimeProvider(Now);
        return new RetentionRunner(client, new RetentionPlanner(client, time), NullLogger<RetentionRunner>.Instance, time);
    }

    private static Dictionary<string, TableRetention> RawEvents(TableRetention retention) => new() { ["raw_events"] = retention };

    private static string Describe(RetentionAction a) =>
        $"{a.Table} {a.Action} {a.Partition} {a.TenantId ?? "-"} {a.Cutoff:yyyy-MM-dd} {a.Rows}";

    private static string Drop(string partition, long rows, string table = "raw_events", string cutoff = "2026-05-25") =>
        $"{table} drop_partition {partition} - {cutoff} {rows}";

    private static string Delete(string partitions, string tenant, string cutoff, long rows, string table = "raw_events") =>
        $"{table} delete_rows {partitions} {tenant} {cutoff} {rows}";

    /// <summary>Two events per tenant per month, on the 10th and the 28th.</summary>
    private static async Task SeedRawEventsAsync(ClickHouseClient client)
    {
        var values = from tenant in Tenants
                     from month in Months
                     from day in new[] { "10", "28" }
                     select $"({ClickHouseSql.Literal(tenant)}, {ClickHouseSql.Literal($"{tenant}-{month}-{day}")}, toDateTime({ClickHouseSql.Literal($"{month}-{day} 12:00:00")}, 'UTC'))";
        await client.ExecuteAsync($"INSERT INTO raw_events (tenant_id, event_id, event_time) VALUES {string.Join(", ", values)}");
    }

    private static Task<string> ActivePartitionsAsync(ClickHouseClient client, string table) => client.QueryScalarAsync(
        $"SELECT arrayStringConcat(arraySort(groupUniqArray(partition_id)), ',') FROM system.parts WHERE database = currentDatabase() AND table = {ClickHouseSql.Literal(table)} AND active");

    private static Task<string> RowsPerTenantAsync(ClickHouseClient client, string table) => client.QueryScalarAsync(
        $"SELECT arrayStringConcat(groupArray(concat(tenant_id, ':', toString(n))), ',') FROM (SELECT tenant_id, count() AS n FROM {ClickHouseSql.Identifier(table)} GROUP BY tenant_id ORDER BY tenant_id)");

    private static async Task<IEnumerable<string>> LoggedAsync(ClickHouseClient client, int dryRun)
    {
        var text = await client.QueryScalarAsync(
            $"SELECT table_name, action, partition, if(tenant_id = '', '-', tenant_id), cutoff, rows FROM retention_log WHERE dry_run = {dryRun} AND error = ''");
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Replace('\t', ' ')).Order();
    }

    /// <summary>ALTER DELETE returns before the rows are gone: wait (bounded) until the table's mutations are done.</summary>
    private static async Task WaitForMutationsAsync(ClickHouseClient client)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await client.QueryScalarAsync("SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0") != "0")
        {
            Assert.True(DateTime.UtcNow < deadline, "Mutations did not finish within 30 s.");
            await Task.Delay(100);
        }
    }

    private sealed class ListLogger<T> : ILogger<T>
    {
        public List<Exception?> Errors { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error)
            {
                Errors.Add(exception);
            }
        }
    }
}
