using Microsoft.Extensions.Logging.Abstractions;
using Platform.ClickHouse;
using Transformer.Models;
using Transformer.Runs;
using static Transformer.Tests.ShippedModelsDataset;

namespace Transformer.Tests;

/// <summary>
/// The models shipped in src/Transformer/models, built by the real runner on a real ClickHouse from
/// raw deliveries (copies, resends, late events), compared row by row with what C# computes from
/// the same deliveries.
/// </summary>
[Collection(TransformerCollection.Name)]
public class ShippedModelsTests(TransformerClickHouse clickHouse)
{
    private static readonly string ModelsPath = Path.Combine(AppContext.BaseDirectory, "models");

    /// <summary>Each model's rows as the expectations render them: times as unix seconds, dates as text.</summary>
    private static readonly (string Model, string Query, Func<ShippedModelsExpected, IEnumerable<string>> Expected)[] Models =
    [
        ("stg_events",
            "SELECT tenant_id, event_id, event_type, event_name, user_id, anonymous_id, actor_id, session_id, toUnixTimestamp(event_time), " +
            "toString(event_date), toUnixTimestamp(received_at), country, device, os, app_version, page, properties FROM stg_events",
            x => x.StgEvents()),
        ("rollup_events_daily",
            "SELECT tenant_id, toString(day), event_name, country, device, os, app_version, sum(events), uniqExactMerge(users) " +
            "FROM rollup_events_daily GROUP BY tenant_id, day, event_name, country, device, os, app_version",
            x => x.RollupEventsDaily()),
        ("rollup_event_names_daily",
            "SELECT tenant_id, toString(day), event_name, sum(events), uniqExactArray(actors) FROM rollup_event_names_daily GROUP BY tenant_id, day, event_name",
            x => x.RollupEventNamesDaily()),
        ("actor_first_seen",
            "SELECT tenant_id, actor_id, toString(min(first_seen)), toUnixTimestamp(min(first_time)) FROM actor_first_seen GROUP BY tenant_id, actor_id",
            x => x.ActorFirstSeen()),
        ("rollup_active_users_daily",
            "SELECT tenant_id, toString(day), uniqExactMerge(users) FROM rollup_active_users_daily GROUP BY tenant_id, day",
            x => x.RollupActiveUsersDaily()),
        ("active_users",
            "SELECT tenant_id, toString(day), dau, wau, mau FROM active_users",
            x => x.ActiveUsers()),
        ("sessions",
            "SELECT tenant_id, session_id, actor_id, toString(session_date), toUnixTimestamp(started_at), toUnixTimestamp(ended_at), " +
            "duration_seconds, events, entry_event, exit_event, country, device FROM sessions",
            x => x.Sessions()),
        ("fct_signup_funnel",
            "SELECT tenant_id, actor_id, toUnixTimestamp(viewed_at), toUnixTimestamp(submitted_at), toUnixTimestamp(completed_at), " +
            "reached_submitted, reached_completed, toString(cohort_date) FROM fct_signup_funnel",
            x => x.SignupFunnel()),
        ("fct_retention",
            "SELECT tenant_id, cohort_grain, toString(cohort), period, users, cohort_users FROM fct_retention",
            x => x.Retention()),
        ("fct_feature_adoption",
            "SELECT tenant_id, feature, toString(cohort_week), cohort_users, adopters, toString(round(adoption_rate, 6)) FROM fct_feature_adoption",
            x => x.FeatureAdoption()),
    ];

    [Fact]
    public async Task EveryShippedModelMatchesItsHandComputedExpectationBeforeAndAfterLateEvents()
    {
        var client = await clickHouse.NewDatabaseAsync("models");
        var data = Generate();
        var runner = Runner(client, new FixedTimeProvider(Now));
        await InsertAsync(client, data.Originals);
        await InsertAsync(client, data.Copies);

        // The first run builds every model over all time (incremental ones included).
        AssertSucceeded(await runner.RunAsync(new RunRequest()));
        await AssertModelsAsync(client, new ShippedModelsExpected(data.Originals.Concat(data.Copies)));

        // Late arrivals within the lookback, and one more copy of an old event: the second run
        // re-builds the last days of the incremental models and all of the tables.
        await InsertAsync(client, data.Late);
        AssertSucceeded(await runner.RunAsync(new RunRequest()));
        await AssertModelsAsync(client, new ShippedModelsExpected(data.All));
    }

    [Fact]
    public async Task TheDatasetCoversTheCasesTheModelsAreMeantFor()
    {
        // Guards the generator: the comparison above only proves something if these cases are in it.
        var data = Generate();
        var expected = new ShippedModelsExpected(data.All);
        var deliveries = data.All.ToList();

        Assert.True(deliveries.Count - expected.Events.Count > 40, "copies and resends");
        Assert.Contains(data.Copies, c => data.Originals.Any(o => o.TenantId == c.TenantId && o.EventId == c.EventId && o.EventTime > c.EventTime));
        Assert.Contains(data.Copies, c => data.Originals.Any(o => o.TenantId == c.TenantId && o.EventId == c.EventId && o.EventTime < c.EventTime));
        Assert.Contains(data.Copies, c => data.Originals.Any(o => o.TenantId == c.TenantId && o.EventId == c.EventId && o.EventDate != c.EventDate));
        Assert.Contains(expected.Sessions(), s => s.Split('\t')[1].StartsWith("gap-", StringComparison.Ordinal));
        Assert.Contains(expected.Sessions(), s => s.Split('\t')[1] == "s-midnight" && s.Split('\t')[3] == "2026-02-14");
        // gapper: 25 min across midnight, then 1799 s and 1800 s (one session), then 1801 s (a new one).
        Assert.Equal(["2026-02-16\t5099\t4", "2026-02-17\t0\t1"], expected.Sessions()
            .Select(s => s.Split('\t')).Where(s => s[1].StartsWith("gap-gapper-", StringComparison.Ordinal))
            .OrderBy(s => s[4], StringComparer.Ordinal).Select(s => $"{s[3]}\t{s[6]}\t{s[7]}"));
        Assert.Equal(2, expected.SignupFunnel().Count(f => f.Split('\t')[6] == "1"));
        Assert.Contains(expected.FeatureAdoption(), f => f.Split('\t')[4] == "0");
        Assert.True(expected.Retention().Select(r => r.Split('\t')[2]).Distinct().Count() > 10, "cohorts");
        Assert.Contains(expected.Events, e => e.TenantId == Acme && e.EventId == "e-00001");
        Assert.Contains(expected.Events, e => e.TenantId == Initech && e.EventId == "e-00001");
    }

    [Fact]
    public async Task LateEventsAreCountedWithinTheLookbackAndOlderOnesOnlyAfterABackfill()
    {
        var client = await clickHouse.NewDatabaseAsync("models");
        var time = new FixedTimeProvider(Now);
        var runner = Runner(client, time);
        var today = DateOnly.FromDateTime(Now.UtcDateTime);
        RawEvent Event(string id, string user, DateOnly day, DateTime received) => new()
        {
            TenantId = Acme, EventId = id, EventName = "open_app", UserId = user,
            EventTime = day.ToDateTime(new TimeOnly(12, 0), DateTimeKind.Utc), ReceivedAt = received,
        };
        var now = Now.UtcDateTime;
        await InsertAsync(client, [Event("a", "early", today.AddDays(-2), today.AddDays(-2).ToDateTime(new TimeOnly(12, 0, 1))), Event("b", "early", today, now)]);
        AssertSucceeded(await runner.RunAsync(new RunRequest()));
        Assert.Equal("1", await DauAsync(client, today.AddDays(-2)));

        // Two days late: inside the default lookback of 3 days, counted at the next run.
        await InsertAsync(client, [Event("c", "late", today.AddDays(-2), now)]);
        AssertSucceeded(await runner.RunAsync(new RunRequest()));
        Assert.Equal("2", await DauAsync(client, today.AddDays(-2)));
        Assert.Equal("1", await client.QueryScalarAsync("SELECT count() FROM stg_events WHERE event_id = 'c'"));

        // Ten days late: outside the lookback, so not counted until a backfill covers its day.
        var old = today.AddDays(-10);
        await InsertAsync(client, [Event("d", "very-late", old, now)]);
        AssertSucceeded(await runner.RunAsync(new RunRequest()));
        Assert.Equal("0", await client.QueryScalarAsync("SELECT count() FROM stg_events WHERE event_id = 'd'"));
        Assert.Equal("", await DauAsync(client, old));

        AssertSucceeded(await runner.RunAsync(new RunRequest { From = old, To = old }));
        Assert.Equal("1", await client.QueryScalarAsync("SELECT count() FROM stg_events WHERE event_id = 'd'"));
        Assert.Equal("1", await DauAsync(client, old));
        Assert.Equal("1", await client.QueryScalarAsync($"SELECT count() FROM sessions WHERE actor_id = 'very-late' AND session_date = {ClickHouseSql.Literal(old)}"));
        // The table models are rebuilt by a backfill too: the very late user is a cohort of its own.
        Assert.Equal("1", await client.QueryScalarAsync($"SELECT cohort_users FROM fct_retention WHERE cohort_grain = 'day' AND cohort = {ClickHouseSql.Literal(old)} AND period = 0"));
    }

    [Fact]
    public async Task NoRowOfOneTenantLandsInAnothers()
    {
        var client = await clickHouse.NewDatabaseAsync("models");
        var runner = Runner(client, new FixedTimeProvider(Now));
        var day = DateOnly.FromDateTime(Now.UtcDateTime).AddDays(-1);
        RawEvent Event(string tenant, string user, string name, int minute, string type = "track", string page = "") => new()
        {
            // The same event ids, user ids and session id in both tenants.
            TenantId = tenant, EventId = $"e-{minute}", EventType = type, EventName = name, UserId = user, SessionId = "s-1", Page = page,
            EventTime = day.ToDateTime(new TimeOnly(10, minute), DateTimeKind.Utc), ReceivedAt = day.ToDateTime(new TimeOnly(11, minute), DateTimeKind.Utc),
        };
        await InsertAsync(client,
        [
            Event("left", "u1", "$page", 1, "page", "/signup"),
            Event("right", "u1", "signup_submitted", 2),
            Event("right", "u2", "right_only_feature", 3),
            Event("right", "u2", "right_only_feature", 4),
        ]);
        AssertSucceeded(await runner.RunAsync(new RunRequest()));

        async Task<string> Left(string sql) => await client.QueryScalarAsync(sql + " WHERE tenant_id = 'left'");
        Assert.Equal("e-1\t$page", await Left("SELECT event_id, event_name FROM stg_events"));
        Assert.Equal("1\t1", await Left("SELECT dau, mau FROM active_users"));
        Assert.Equal("1\t1", await Left("SELECT count(), sum(events) FROM sessions"));
        Assert.Equal("1\t0", await Left("SELECT count(), sum(reached_submitted) FROM fct_signup_funnel"));
        Assert.Equal("0", await Left("SELECT count() FROM fct_feature_adoption"));
        Assert.Equal("1", await Left("SELECT sum(cohort_users * (cohort_grain = 'day')) FROM fct_retention"));
        Assert.Equal("1", await Left("SELECT sum(events) FROM rollup_events_daily"));
        Assert.Equal("2\t3", await client.QueryScalarAsync("SELECT dau, (SELECT sum(events) FROM sessions WHERE tenant_id = 'right') FROM active_users WHERE tenant_id = 'right'"));
    }

    private static ModelRunner Runner(ClickHouseClient client, TimeProvider time)
    {
        // Parallel builds, as the service runs them (a race with system.tables was found this way).
        var options = new TransformerOptions { ModelsPath = ModelsPath, ScheduleEnabled = false, MaxParallelism = 3 };
        return new ModelRunner(client, ModelProject.Load(ModelsPath), options, time, NullLogger<ModelRunner>.Instance);
    }

    /// <summary>
    /// One insert per call, as a delivered batch is. Merges are stopped so every copy stays a row of
    /// its own: the models must fold them, whatever ClickHouse has merged by then.
    /// </summary>
    private static async Task InsertAsync(ClickHouseClient client, IReadOnlyCollection<RawEvent> events)
    {
        await client.ExecuteAsync($"SYSTEM STOP MERGES {client.Database}.raw_events");
        await client.InsertAsync("raw_events", events.Select(e => e.ToRow()).ToList(), RawEventJsonContext.Default.RawEventRow);
    }

    private static Task<string> DauAsync(ClickHouseClient client, DateOnly day) =>
        client.QueryScalarAsync($"SELECT dau FROM active_users WHERE tenant_id = {ClickHouseSql.Literal(Acme)} AND day = {ClickHouseSql.Literal(day)}");

    private static void AssertSucceeded(RunReport report)
    {
        // This dataset has events only: the dimension models wait for their CDC tables (DimensionModelsTests builds them).
        Assert.Equal(["dim_accounts", "dim_users"], report.Results.Where(r => r.Status == ModelRunStatus.Waiting).Select(r => r.Model).Order());
        report = report with { Results = report.Results.Where(r => r.Status != ModelRunStatus.Waiting).ToList() };
        var problems = report.Results
            .Where(r => r.Status != ModelRunStatus.Succeeded || r.Tests.Any(t => !t.Passed))
            .Select(r => $"{r.Model}: {r.Status} {r.Error} " +
                string.Join("; ", r.Tests.Where(t => !t.Passed).Select(t => $"{t.Test} failed ({t.Failures}) {t.Error} {t.Samples}")))
            .ToList();
        Assert.True(report.Succeeded && problems.Count == 0, "The run failed:\n" + string.Join('\n', problems));
        Assert.Equal(Models.Select(m => m.Model).Order(), report.Results.Select(r => r.Model).Order());
        // Every shipped model declares data tests; a run that skipped them would prove less than it says.
        Assert.All(report.Results, r => Assert.NotEmpty(r.Tests));
    }

    private static async Task AssertModelsAsync(ClickHouseClient client, ShippedModelsExpected expected)
    {
        var failures = new List<string>();
        foreach (var (model, query, rows) in Models)
        {
            var actual = (await client.QueryScalarAsync(query)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList();
            var wanted = rows(expected).Order(StringComparer.Ordinal).ToList();
            var missing = wanted.Except(actual).ToList();
            var extra = actual.Except(wanted).ToList();
            if (missing.Count > 0 || extra.Count > 0 || actual.Count != wanted.Count)
            {
                failures.Add($"{model}: {actual.Count} rows, expected {wanted.Count}\n  missing: {string.Join("\n           ", missing.Take(5))}\n  extra:   {string.Join("\n           ", extra.Take(5))}");
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }
}
