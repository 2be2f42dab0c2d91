using Platform.ClickHouse;
using Transformer.Runs;

namespace Transformer.Tests;

[Collection(TransformerCollection.Name)]
public class MaterializationTests(TransformerClickHouse clickHouse)
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    private const string Daily = """
        /*
        materialized: incremental
        time_column: day
        order_by: (tenant_id, day)
        lookback_days: 3
        */
        SELECT tenant_id, toDate(event_time) AS day, count() AS events
        FROM {{ source('raw', 'raw_events') }}
        WHERE event_time >= {{ window_start }} AND event_time < {{ window_end }}
        GROUP BY tenant_id, day
        """;

    [Fact]
    public async Task ATableModelIsSwappedInWholeAndAFailedBuildLeavesTheOldDataReadable()
    {
        var client = await clickHouse.NewDatabaseAsync("table");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "u1", "2026-11-20 10:00:00"), ("t1", "e2", "open", "u2", "2026-11-20 11:00:00"), ("t2", "e3", "open", "u3", "2026-11-20 11:00:00"));
        using var folder = new ModelFolder().Add("marts/per_tenant.sql", """
            /*
            materialized: table
            order_by: tenant_id
            */
            SELECT tenant_id, count() AS events FROM {{ source('raw', 'raw_events') }} GROUP BY tenant_id
            """);

        var first = await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());
        folder.Add("marts/per_tenant.sql", """
            /*
            materialized: table
            order_by: tenant_id
            */
            SELECT tenant_id, throwIf(count() > 0) AS events FROM {{ source('raw', 'raw_events') }} GROUP BY tenant_id
            """);
        var broken = await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());

        Assert.Equal((ModelRunStatus.Succeeded, 2L), (first.Results[0].Status, first.Results[0].Rows));
        Assert.Equal(ModelRunStatus.Failed, broken.Results[0].Status);
        Assert.Contains("throwIf", broken.Results[0].Error, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("t1:2 t2:1", await ScalarAsync(client, "SELECT arrayStringConcat(groupArray(concat(tenant_id, ':', toString(events))), ' ') FROM (SELECT * FROM per_tenant ORDER BY tenant_id)"));
        Assert.Equal("per_tenant", await TablesLikeAsync(client, "per_tenant%"));
    }

    [Fact]
    public async Task AViewModelIsReplacedByItsNewDefinition()
    {
        var client = await clickHouse.NewDatabaseAsync("view");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "u1", "2026-11-20 10:00:00"));
        using var folder = new ModelFolder().Add("v.sql", "SELECT count() AS n FROM {{ source('raw', 'raw_events') }}");

        await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());
        var before = await ScalarAsync(client, "SELECT n FROM v");
        folder.Add("v.sql", "SELECT count() * 10 AS n FROM {{ source('raw', 'raw_events') }}");
        var report = await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());

        Assert.True(report.Succeeded);
        Assert.Equal(("1", "10"), (before, await ScalarAsync(client, "SELECT n FROM v")));
        Assert.Equal("View", await ScalarAsync(client, "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = 'v'"));
    }

    [Fact]
    public async Task AnIncrementalModelReplacesTheDaysOfItsWindowAndABackfillReachesOlderOnes()
    {
        var client = await clickHouse.NewDatabaseAsync("incremental");
        await RawEvents.InsertAsync(client,
            ("t1", "e1", "open", "u1", "2026-11-10 10:00:00"),
            ("t1", "e2", "open", "u1", "2026-11-19 10:00:00"),
            ("t1", "e3", "open", "u1", "2026-11-21 09:00:00"));
        using var folder = new ModelFolder().Add("daily.sql", Daily);
        var time = new FixedTimeProvider(Now);
        var runner = folder.Runner(client, time);

        var first = await runner.RunAsync(new RunRequest());
        // Late events: one two days late (inside the 3-day lookback), one eleven days late (outside).
        await RawEvents.InsertAsync(client, ("t1", "late1", "open", "u2", "2026-11-19 23:59:59"), ("t1", "late2", "open", "u2", "2026-11-10 08:00:00"), ("t2", "new", "open", "u9", "2026-11-22 01:00:00"));
        var second = await runner.RunAsync(new RunRequest());
        var afterSecond = await DailyAsync(client);
        var backfill = await runner.RunAsync(new RunRequest { From = new DateOnly(2026, 11, 1), To = new DateOnly(2026, 11, 15) });

        Assert.True(first.Succeeded, first.Results[0].Error);
        Assert.Equal("first build", first.Results[0].Note);
        Assert.Equal(3, first.Results[0].Rows);
        Assert.True(second.Succeeded, second.Results[0].Error);
        Assert.Equal(3, second.Results[0].Rows); // 11-19 (2 events), 11-21, and t2 on 11-22 (tomorrow is in the window)
        Assert.Equal("t1 2026-11-10 1|t1 2026-11-19 2|t1 2026-11-21 1|t2 2026-11-22 1", afterSecond);
        Assert.Equal("backfill", backfill.Results[0].Note);
        Assert.Equal("t1 2026-11-10 2|t1 2026-11-19 2|t1 2026-11-21 1|t2 2026-11-22 1", await DailyAsync(client));
        Assert.Equal("2026-11-10,2026-11-19,2026-11-21,2026-11-22", await ScalarAsync(client, "SELECT arrayStringConcat(groupArray(partition), ',') FROM (SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND table = 'daily' AND active ORDER BY partition)"));
    }

    [Fact]
    public async Task AnIncrementalModelWhoseColumnsChangedIsRebuiltWhole()
    {
        var client = await clickHouse.NewDatabaseAsync("reshape");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "u1", "2026-11-01 10:00:00"), ("t1", "e2", "open", "u1", "2026-11-20 10:00:00"));
        using var folder = new ModelFolder().Add("daily.sql", Daily);
        await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());

        folder.Add("daily.sql", Daily.Replace("count() AS events", "count() AS events, uniqExact(user_id) AS users", StringComparison.Ordinal));
        var report = await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());

        Assert.Equal("table shape changed: full rebuild", report.Results[0].Note);
        Assert.Equal("2026-11-01:1,2026-11-20:1", await ScalarAsync(client, "SELECT arrayStringConcat(groupArray(concat(toString(day), ':', toString(users))), ',') FROM (SELECT * FROM daily ORDER BY day)"));
    }

    [Fact]
    public async Task AnIndexGranularityIsTheTablesAndChangingItRebuildsTheModelWhole()
    {
        var client = await clickHouse.NewDatabaseAsync("granularity");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "u1", "2026-11-01 10:00:00"), ("t1", "e2", "open", "u1", "2026-11-20 10:00:00"));
        using var folder = new ModelFolder().Add("daily.sql", Daily);
        await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());

        folder.Add("daily.sql", Daily.Replace("lookback_days: 3", "lookback_days: 3\nindex_granularity: 1024", StringComparison.Ordinal));
        var report = await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());

        Assert.Equal("table shape changed: full rebuild", report.Results[0].Note);
        Assert.Contains("index_granularity = 1024", await ScalarAsync(client, "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'daily'"), StringComparison.Ordinal);
        Assert.Equal("2", await ScalarAsync(client, "SELECT toString(sum(events)) FROM daily"));
    }

    [Fact]
    public async Task AnAppendModelAddsOnlyRowsNewerThanItsHighWaterMark()
    {
        var client = await clickHouse.NewDatabaseAsync("append");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "u1", "2026-11-20 10:00:00"));
        using var folder = new ModelFolder().Add("log.sql", """
            /*
            materialized: append
            time_column: event_time
            order_by: (tenant_id, event_time)
            */
            SELECT tenant_id, event_id, event_time FROM {{ source('raw', 'raw_events') }} WHERE event_time > {{ window_start }}
            """);
        var runner = folder.Runner(client, new FixedTimeProvider(Now));

        await runner.RunAsync(new RunRequest());
        await RawEvents.InsertAsync(client, ("t1", "e2", "open", "u1", "2026-11-20 11:00:00"));
        var second = await runner.RunAsync(new RunRequest());
        var third = await runner.RunAsync(new RunRequest());

        Assert.Equal((1L, 0L), (second.Results[0].Rows, third.Results[0].Rows));
        Assert.Equal("e1,e2", await ScalarAsync(client, "SELECT arrayStringConcat(groupArray(event_id), ',') FROM (SELECT event_id FROM log ORDER BY event_id)"));
    }

    [Fact]
    public async Task AFailedIncrementalBuildLeavesEveryDayAsItWas()
    {
        var client = await clickHouse.NewDatabaseAsync("incfail");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "u1", "2026-11-20 10:00:00"));
        using var folder = new ModelFolder().Add("daily.sql", Daily);
        await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());
        await RawEvents.InsertAsync(client, ("t1", "e2", "open", "u1", "2026-11-20 11:00:00"));

        folder.Add("daily.sql", Daily.Replace("count() AS events", "toUInt64(count() + throwIf(count() > 1)) AS events", StringComparison.Ordinal));
        var report = await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());

        Assert.Equal(ModelRunStatus.Failed, report.Results[0].Status);
        Assert.Equal("t1 2026-11-20 1", await DailyAsync(client));
        Assert.Equal("daily", await TablesLikeAsync(client, "daily%"));
    }

    [Fact]
    public async Task TwoRunsOfOneModelAtOnceBuildItOneAfterTheOther()
    {
        var client = await clickHouse.NewDatabaseAsync("lock");
        using var folder = new ModelFolder().Add("slow.sql", "/*\nmaterialized: table\n*/\nSELECT sleep(1) AS s");
        var runner = folder.Runner(client, TimeProvider.System);

        var runs = await Task.WhenAll(runner.RunAsync(new RunRequest()), runner.RunAsync(new RunRequest()));
        var (first, second) = (runs[0].Results[0], runs[1].Results[0]);

        Assert.All(runs, r => Assert.True(r.Succeeded));
        Assert.True(first.FinishedAt <= second.StartedAt || second.FinishedAt <= first.StartedAt, "the builds did not overlap");
    }

    [Fact]
    public async Task TwoProcessesBuildingOneModelAtOnceBothSucceedAndTheLaterSwapWins()
    {
        var client = await clickHouse.NewDatabaseAsync("twoproc");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "u1", "2026-11-20 10:00:00"));
        using var folder = new ModelFolder().Add("slow.sql", "/*\nmaterialized: table\n*/\nSELECT count() AS n, sleep(1) AS s FROM {{ source('raw', 'raw_events') }}");
        await folder.Runner(client, TimeProvider.System).RunAsync(new RunRequest());

        // Two runners stand for the service and an operator's command: no shared lock between them.
        var runs = await Task.WhenAll(folder.Runner(client, TimeProvider.System).RunAsync(new RunRequest()), folder.Runner(client, TimeProvider.System).RunAsync(new RunRequest()));

        Assert.All(runs, r => Assert.True(r.Succeeded, r.Results[0].Error));
        Assert.Equal("slow", await TablesLikeAsync(client, "slow%"));
        Assert.Equal("1", await ScalarAsync(client, "SELECT n FROM slow"));
    }

    [Fact]
    public async Task SideTablesOfABuildThatDiedAreDroppedOnceOlderThanAnyBuild()
    {
        var client = await clickHouse.NewDatabaseAsync("leftover");
        var old = Now.AddHours(-2).ToUnixTimeSeconds();
        var recent = Now.AddMinutes(-1).ToUnixTimeSeconds();
        await client.ExecuteAsync($"CREATE TABLE per_day__build_{old}_00aa (x UInt8) ENGINE = Memory");
        await client.ExecuteAsync($"CREATE TABLE per_day__old_{old}_00ab (x UInt8) ENGINE = Memory");
        await client.ExecuteAsync($"CREATE TABLE per_day__build_{recent}_00ac (x UInt8) ENGINE = Memory");
        using var folder = new ModelFolder().Add("per_day.sql", "SELECT 1 AS x");

        var report = await folder.Runner(client, new FixedTimeProvider(Now), new TransformerOptions { BuildTimeout = TimeSpan.FromMinutes(30) }).RunAsync(new RunRequest());

        Assert.True(report.Succeeded);
        Assert.Equal($"per_day,per_day__build_{recent}_00ac", await TablesLikeAsync(client, "per\\_day%"));
    }

    private static async Task<string> DailyAsync(ClickHouseClient client) =>
        await ScalarAsync(client, "SELECT arrayStringConcat(groupArray(concat(tenant_id, ' ', toString(day), ' ', toString(events))), '|') FROM (SELECT * FROM daily ORDER BY tenant_id, day)");

    internal static Task<string> ScalarAsync(ClickHouseClient client, string sql) => client.QueryScalarAsync(sql);

    internal static Task<string> TablesLikeAsync(ClickHouseClient client, string pattern) =>
        client.QueryScalarAsync($"SELECT arrayStringConcat(groupArray(name), ',') FROM (SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE {ClickHouseSql.Literal(pattern)} ORDER BY name)");
}
