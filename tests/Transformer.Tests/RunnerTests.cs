using Transformer.Runs;

namespace Transformer.Tests;

[Collection(TransformerCollection.Name)]
public class RunnerTests(TransformerClickHouse clickHouse)
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    private const string Base = """
        /*
        materialized: table
        order_by: (tenant_id, event_id)
        */
        SELECT tenant_id, event_id, event_name, user_id, event_time FROM {{ source('raw', 'raw_events') }}
        """;

    [Fact]
    public async Task AFailedModelMakesItsDependentsSkipAndTheNextRunRetriesThem()
    {
        var client = await clickHouse.NewDatabaseAsync("skip");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "u1", "2026-11-20 10:00:00"));
        using var folder = new ModelFolder()
            .Add("staging/base.sql", Base.Replace("event_time FROM", "throwIf(1) AS boom, event_time FROM", StringComparison.Ordinal))
            .Add("marts/child.sql", "/*\nmaterialized: table\n*/\nSELECT tenant_id, count() AS n FROM {{ ref('base') }} GROUP BY tenant_id")
            .Add("marts/grandchild.sql", "SELECT * FROM {{ ref('child') }}")
            .Add("marts/other.sql", "SELECT 1 AS x");

        var broken = await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());
        folder.Add("staging/base.sql", Base);
        var runner = folder.Runner(client, new FixedTimeProvider(Now));
        var onlyChild = await runner.RunAsync(new RunRequest { Select = "child+" }); // base's last build failed
        var fixedRun = await runner.RunAsync(new RunRequest { Select = "base+" });

        Assert.Equal("base:Failed child:Skipped grandchild:Skipped other:Succeeded", Summary(broken));
        Assert.Equal("upstream base failed: " + broken.Results[0].Error, broken.Results[1].Error);
        Assert.Equal("child:Skipped grandchild:Skipped", Summary(onlyChild));
        Assert.Equal("base:Succeeded child:Succeeded grandchild:Succeeded", Summary(fixedRun));
        Assert.Equal("1", await client.QueryScalarAsync("SELECT n FROM grandchild"));
        Assert.Equal("base:failed:0 base:succeeded:1 child:skipped:0 child:succeeded:1 grandchild:skipped:0 grandchild:succeeded:0 other:succeeded:0",
            await client.QueryScalarAsync("SELECT arrayStringConcat(groupArray(concat(model, ':', status, ':', toString(rows))), ' ') FROM (SELECT DISTINCT model, status, rows FROM transform_runs ORDER BY model, status)"));
    }

    [Fact]
    public async Task DataTestsPassOrFailWithCountsAndSampleRows()
    {
        var client = await clickHouse.NewDatabaseAsync("tests");
        await RawEvents.InsertAsync(client,
            ("t1", "e1", "open", "u1", "2026-11-21 11:30:00"),
            ("t1", "e1", "open", "u1", "2026-11-21 11:30:00"),
            ("t1", "e2", "weird", "", "2026-11-21 11:40:00"),
            ("t2", "e3", "open", "u3", "2026-11-21 11:50:00"));
        using var folder = new ModelFolder()
            .Add("users.sql", "/*\nmaterialized: table\norder_by: tenant_id\n*/\nSELECT 't1' AS tenant_id, 'u1' AS user_id")
            .Add("events.sql", """
                /*
                materialized: table
                order_by: (tenant_id, event_id)
                tests:
                  - not_null: [tenant_id, event_id]
                  - not_null: user_id
                  - unique: { columns: [tenant_id, event_id], per: day }
                  - unique: tenant_id
                  - accepted_values: { column: event_name, values: [open, close] }
                  - accepted_values: { column: tenant_id, values: [t1, t2] }
                  - relationships: { column: user_id, to: users, field: user_id }
                  - freshness: { column: event_time, max_age_minutes: 15 }
                  - freshness: { column: event_time, max_age_minutes: 5 }
                  - sql: { name: no_weird_events, query: "SELECT * FROM {{ this }} WHERE event_name = 'weird'" }
                  - sql: { name: broken_query, query: "SELECT no_such_column FROM {{ this }}" }
                */
                SELECT tenant_id, event_id, event_name, user_id, event_time, toDate(event_time) AS day FROM {{ source('raw', 'raw_events') }}
                """);

        var report = await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest());
        var tests = report.Results.Single(r => r.Model == "events").Tests.ToDictionary(t => t.Test);

        Assert.False(report.Succeeded);
        Assert.Equal(
            "not_null(tenant_id, event_id):passed:0 not_null(user_id):failed:1 unique(tenant_id, event_id) per day:failed:1 unique(tenant_id):failed:1 "
            + "accepted_values(event_name):failed:1 accepted_values(tenant_id):passed:0 relationships(user_id -> users.user_id):failed:1 "
            + "freshness(event_time < 15 min):passed:0 freshness(event_time < 5 min):failed:1 no_weird_events:failed:1 broken_query:error:0",
            string.Join(' ', tests.Values.Select(t => $"{t.Test}:{t.Status}:{t.Failures}")));
        Assert.Contains("\"event_id\":\"e1\"", Assert.Single(tests["unique(tenant_id, event_id) per day"].Samples), StringComparison.Ordinal);
        Assert.Contains("\"user_id\":\"u3\"", Assert.Single(tests["relationships(user_id -> users.user_id)"].Samples), StringComparison.Ordinal);
        Assert.Contains("no_such_column", tests["broken_query"].Error, StringComparison.Ordinal);
        Assert.Equal("11", await client.QueryScalarAsync("SELECT count() FROM transform_test_results WHERE model = 'events'"));
        Assert.Equal("[{\"newest\":\"2026-11-21 11:50:00\"}]", await client.QueryScalarAsync("SELECT samples FROM transform_test_results WHERE test = 'freshness(event_time < 5 min)'"));
    }

    [Fact]
    public async Task AFailingTestOfABlockingModelSkipsItsDependentsUntilItPasses()
    {
        var client = await clickHouse.NewDatabaseAsync("block");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "", "2026-11-20 10:00:00"));
        using var folder = new ModelFolder()
            .Add("base.sql", Base.Replace("*/", "block_dependents_on_test_failure: true\ntests:\n  - not_null: user_id\n*/", StringComparison.Ordinal))
            .Add("child.sql", "SELECT count() AS n FROM {{ ref('base') }}");
        var runner = folder.Runner(client, new FixedTimeProvider(Now));

        var blocked = await runner.RunAsync(new RunRequest());
        var testOnly = await runner.RunAsync(new RunRequest { TestOnly = true, Select = "base" });
        var unusableAfterTests = runner.States["base"]!.Unusable;
        await client.ExecuteAsync("ALTER TABLE raw_events DELETE WHERE user_id = ''");
        await WaitForMutationsAsync(client);
        await RawEvents.InsertAsync(client, ("t1", "e2", "open", "u1", "2026-11-20 10:00:00"));
        var unblocked = await runner.RunAsync(new RunRequest());

        Assert.Equal("base:Succeeded child:Skipped", Summary(blocked));
        Assert.Contains("failed a data test that blocks its dependents (not_null(user_id))", blocked.Results[1].Error, StringComparison.Ordinal);
        Assert.True(testOnly.Results[0].BlocksDependents);
        Assert.True(unusableAfterTests);
        Assert.Equal("base:Succeeded child:Succeeded", Summary(unblocked));
        Assert.True(unblocked.Succeeded);
        Assert.False(runner.States["base"]!.Unusable);
    }

    [Fact]
    public async Task StateIsReadBackFromTheRunHistoryByANewRunner()
    {
        var client = await clickHouse.NewDatabaseAsync("history");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "u1", "2026-11-20 10:00:00"));
        using var folder = new ModelFolder()
            .Add("base.sql", Base)
            .Add("child.sql", "SELECT count() AS n FROM {{ ref('base') }}");
        await folder.Runner(client, new FixedTimeProvider(Now)).RunAsync(new RunRequest { Select = "base" });

        var restarted = folder.Runner(client, new FixedTimeProvider(Now.AddMinutes(5)));
        var childOnly = await restarted.RunAsync(new RunRequest { Select = "child" });

        Assert.Equal("child:Succeeded", Summary(childOnly)); // base is known built, though not by this runner
        Assert.Equal(("succeeded", 1L), (restarted.States["base"]!.Status, restarted.States["base"]!.Rows));
    }

    [Fact]
    public async Task IndependentModelsBuildSideBySideAndDependentsWaitForTheirInputs()
    {
        var client = await clickHouse.NewDatabaseAsync("parallel");
        using var folder = new ModelFolder()
            .Add("a.sql", "/*\nmaterialized: table\n*/\nSELECT sleep(1) AS s, now() AS built")
            .Add("b.sql", "/*\nmaterialized: table\n*/\nSELECT sleep(1) AS s, now() AS built")
            .Add("c.sql", "/*\nmaterialized: table\n*/\nSELECT now() AS built FROM {{ ref('a') }} CROSS JOIN {{ ref('b') }}");
        var runner = folder.Runner(client, TimeProvider.System, new TransformerOptions { MaxParallelism = 2 });

        var report = await runner.RunAsync(new RunRequest());
        var byModel = report.Results.ToDictionary(r => r.Model);

        Assert.True(report.Succeeded);
        Assert.True(byModel["a"].StartedAt < byModel["b"].FinishedAt && byModel["b"].StartedAt < byModel["a"].FinishedAt, "a and b overlap");
        Assert.True(byModel["c"].StartedAt >= byModel["a"].FinishedAt && byModel["c"].StartedAt >= byModel["b"].FinishedAt, "c waits for both");
    }

    private static string Summary(RunReport report) => string.Join(' ', report.Results.Select(r => $"{r.Model}:{r.Status}"));

    private static async Task WaitForMutationsAsync(Platform.ClickHouse.ClickHouseClient client)
    {
        for (var i = 0; i < 100 && await client.QueryScalarAsync("SELECT count() FROM system.mutations WHERE database = currentDatabase() AND is_done = 0") != "0"; i++)
        {
            await Task.Delay(100);
        }
    }
}
