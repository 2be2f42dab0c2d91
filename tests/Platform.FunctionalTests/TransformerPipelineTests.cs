using System.Net;
using System.Text.Json.Nodes;
using Platform.ClickHouse;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>
/// The Transformer as the AppHost runs it: it creates its tables, builds every model on start and
/// then on its schedules, so events sent to the Collector reach the staging table and the rollups,
/// each counted once, and its status and health say so.
/// </summary>
public sealed class TransformerPipelineTests(TransformerPipelineTests.FastSchedulePlatform platform, Xunit.Abstractions.ITestOutputHelper output)
    : IClassFixture<TransformerPipelineTests.FastSchedulePlatform>
{
    private readonly FastSchedulePlatform _platform = platform;
    private readonly Xunit.Abstractions.ITestOutputHelper _output = output;

    [Fact]
    public async Task EventsSentToTheCollectorReachTheModelsOnScheduleEachCountedOnce()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var transformer = _platform.CreateHttpClient("transformer");
        var clickHouse = _platform.Probe.ClickHouse;
        var events = Enumerable.Range(0, 12).Select(i => Http.Event(i % 3 == 0 ? "signup_submitted" : "open", $"u{i % 4}", $"tp-{i}")).ToList();

        // Sent twice: the second copy of each event is a resend with the same id.
        foreach (var copy in new[] { 1, 2 })
        {
            using var response = await collector.PostAsync("/v1/events", Http.Json("[" + string.Join(",", events) + "]"));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        var tenantLiteral = ClickHouseSql.Literal(tenant.Id);
        var staged = await Eventually.MatchesAsync(
            () => clickHouse.QueryScalarAsync($"SELECT count() FROM stg_events WHERE tenant_id = {tenantLiteral}"), n => n == "12", TimeSpan.FromSeconds(60));
        var rolledUp = await Eventually.MatchesAsync(
            () => clickHouse.QueryScalarAsync($"SELECT concat(toString(sum(events)), ' ', toString(uniqExactMerge(users))) FROM rollup_events_daily WHERE tenant_id = {tenantLiteral}"),
            s => s == "12 4", TimeSpan.FromSeconds(60));
        var dau = await Eventually.MatchesAsync(
            () => clickHouse.QueryScalarAsync($"SELECT toString(dau) FROM active_users WHERE tenant_id = {tenantLiteral} AND day = today()"), s => s == "4", TimeSpan.FromSeconds(60));

        var status = JsonNode.Parse(await transformer.GetStringAsync("/v1/status"))!.AsObject();
        var models = status["models"]!.AsArray().ToDictionary(m => (string)m!["name"]!, m => m!.AsObject());
        var health = JsonNode.Parse(await transformer.GetStringAsync("/health"))!;

        Assert.Equal(("12", "12 4", "4"), (staged, rolledUp, dau));
        Assert.Equal("succeeded", (string?)models["stg_events"]["status"]);
        Assert.Equal("incremental", (string?)models["stg_events"]["materialized"]);
        Assert.All(models["stg_events"]["tests"]!.AsArray(), t => Assert.Equal("passed", (string?)t!["status"]));
        Assert.Equal(["heavy", "light"], status["schedules"]!.AsArray().Select(s => (string)s!["group"]!));
        Assert.Contains("models", health.ToJsonString(), StringComparison.Ordinal);
        Assert.True(long.Parse(await clickHouse.QueryScalarAsync("SELECT count() FROM transform_runs WHERE trigger LIKE 'schedule:%' AND status = 'succeeded'"), System.Globalization.CultureInfo.InvariantCulture) > 0);

        using var unknown = await transformer.GetAsync("/v1/status/no_such_model");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task AClickHouseOutageFailsTheBuildsSkipsTheirDependentsAndTheNextRunHeals()
    {
        using var transformer = _platform.CreateHttpClient("transformer");
        async Task<Dictionary<string, JsonObject>> ModelsAsync() =>
            JsonNode.Parse(await transformer.GetStringAsync("/v1/status"))!["models"]!.AsArray().ToDictionary(m => (string)m!["name"]!, m => m!.AsObject());
        await Eventually.MatchesAsync(ModelsAsync, m => (string?)m["rollup_events_daily"]["status"] == "succeeded", TimeSpan.FromSeconds(60));

        await _platform.App.StopResourceAsync("clickhouse");
        var during = await Eventually.MatchesAsync(
            ModelsAsync,
            m => (string?)m["stg_events"]["status"] == "failed" && ((string?)m["rollup_events_daily"]["error"])?.StartsWith("upstream stg_events failed", StringComparison.Ordinal) == true,
            TimeSpan.FromSeconds(60));
        using var health = await transformer.GetAsync("/health");
        var checks = JsonNode.Parse(await health.Content.ReadAsStringAsync())!["checks"]!;
        await _platform.App.StartResourceAsync("clickhouse");
        var after = await Eventually.MatchesAsync(
            ModelsAsync,
            m => m.Values.All(model => ((string?)model["status"] == "succeeded" && model["error"] is null) || WaitsForCdc(model)),
            TimeSpan.FromSeconds(90));

        Assert.Contains("unreachable", (string?)during["stg_events"]["error"], StringComparison.Ordinal);
        // Skipped, not built on stale inputs (its own build may also have failed, if it started before stg_events did).
        Assert.StartsWith("upstream stg_events failed", (string?)during["rollup_events_daily"]["error"], StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("Degraded", (string?)checks["models"]!["status"]);
        Assert.Contains("stg_events", (string?)checks["models"]!["description"], StringComparison.Ordinal);
        Assert.All(after.Values.Where(m => !WaitsForCdc(m)), model => Assert.Equal("succeeded", (string?)model["status"]));
    }

    /// <summary>The dimension models wait for the CDC bridge's tables, which this platform's empty product database never fills.</summary>
    private static bool WaitsForCdc(JsonObject model) =>
        ((string?)model["name"])?.StartsWith("dim_", StringComparison.Ordinal) == true && (string?)model["status"] == "waiting for source";

    [Fact]
    public async Task ATransformerKilledMidBuildLeavesTheLastCompleteModelReadableAndTheNextBuildCompletes()
    {
        var tenant = await _platform.CreateTenantAsync();
        var clickHouse = _platform.Probe.ClickHouse;
        var tenantLiteral = ClickHouseSql.Literal(tenant.Id);
        async Task<long> StagedAsync() =>
            long.Parse(await clickHouse.QueryScalarAsync($"SELECT count() FROM stg_events WHERE tenant_id = {tenantLiteral}"), System.Globalization.CultureInfo.InvariantCulture);
        // Seeded straight into raw_events (the intake is tested elsewhere): enough rows yesterday for a build to be caught running.
        Task SeedAsync(long from, long count) => clickHouse.ExecuteAsync(
            "INSERT INTO raw_events (tenant_id, event_id, event_name, user_id, anonymous_id, session_id, event_time, event_time_ms, received_at, properties, context, schema_version) " +
            $"SELECT {tenantLiteral}, concat('kill-', toString(n)), 'open', concat('u', toString(n % 5000)), '', '', " +
            "toDateTime(concat(toString(yesterday()), ' 00:00:00'), 'UTC') + (n % 80000), 0, now(), '{}', '{}', 2 " +
            $"FROM (SELECT number + {from} AS n FROM numbers({count}))");
        const long first = 200_000, second = 2_000_000;
        await SeedAsync(0, first);
        await Eventually.MatchesAsync(StagedAsync, n => n == first, TimeSpan.FromSeconds(120));

        using var stopReading = new CancellationTokenSource();
        var reads = new List<long>();
        var reading = Task.Run(async () =>
        {
            while (!stopReading.IsCancellationRequested)
            {
                reads.Add(await StagedAsync()); // a missing or half-filled table would throw or read low
                await Task.Delay(20);
            }
        });
        await SeedAsync(first, second);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (await clickHouse.QueryScalarAsync("SELECT count() FROM system.processes WHERE query LIKE 'CREATE TABLE %stg_events__build_%'") == "0")
        {
            Assert.True(DateTime.UtcNow < deadline, "no build of stg_events was seen running");
            await Task.Delay(30);
        }

        var killed = System.Diagnostics.Stopwatch.StartNew();
        await _platform.App.KillResourceAsync("transformer", waitForRestart: true); // the AppHost's supervisor restarts it
        await Eventually.MatchesAsync(StagedAsync, n => n == first + second, TimeSpan.FromSeconds(180));
        var recovery = killed.Elapsed;
        await stopReading.CancelAsync();
        await reading;

        Assert.Equal(first + second, await StagedAsync());
        Assert.All(reads, n => Assert.True(n >= first, $"a reader saw {n} rows of stg_events, fewer than its last complete build's {first}"));
        Assert.Equal(reads.Order(), reads); // never a build's partial content
        _output.WriteLine($"Transformer SIGKILLed mid-build of stg_events: {reads.Count} reads meanwhile, each of a complete build " +
            $"({reads.Distinct().Count()} distinct counts); the next build held all {first + second:N0} rows {recovery.TotalSeconds:0.0} s after the kill");
    }

    /// <summary>
    /// 30 days of history sent at once, 15% of it twice, for days the models hold and no regular build will reach again.
    /// With the Transformer stopped the Api answers from events; once it runs, its scheduled runs rebuild those days
    /// by themselves, and the answers, now from the models, stay the same. Sessions are known by construction.
    /// </summary>
    [Fact]
    public async Task AThirtyDayImportIsExactAtOnceAndTheTransformerRepairsTheDaysItHeldByItself()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var api = _platform.CreateApiClient(tenant.ReadKey);
        var clickHouse = _platform.Probe.ClickHouse;
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var (events, sessions) = ImportedHistory(today.AddDays(-33), days: 30);
        var resent = events.Where((_, i) => i % 20 < 3).ToList(); // 15%

        // The models hold those days (built on start, empty for this tenant), and the Transformer is not there to rebuild them.
        await Eventually.MatchesAsync(() => clickHouse.QueryScalarAsync("SELECT count() FROM transform_runs WHERE model = 'sessions' AND status = 'succeeded'"),
            n => n != "0", TimeSpan.FromSeconds(120));
        await _platform.App.StopResourceAsync("transformer");
        var imported = DateTimeOffset.UtcNow;
        foreach (var batch in events.Concat(resent).Chunk(1000))
        {
            using var response = await collector.PostAsync("/v1/events", Http.Json("[" + string.Join(",", batch) + "]"));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        var range = $"from={today.AddDays(-34):yyyy-MM-dd}&to={today.AddDays(-3):yyyy-MM-dd}&tz=UTC";
        await api.CountUntilAsync(events.Count, "?" + range);
        var fromEvents = await AnswersAsync(api, range, "raw");
        Assert.Equal(sessions.Count, (long)fromEvents["sessions"]!["count"]!);
        Assert.Equal(sessions.Sum(s => s.Events) / (double)sessions.Count, (double)fromEvents["sessions"]!["eventsPerSession"]!, 6);

        // Exact at once, without the Transformer: the days the models hold are read from events for this tenant.
        var beforeRepair = await Eventually.MatchesAsync(() => AnswersAsync(api, range, "auto"), a => Same(a, fromEvents), TimeSpan.FromSeconds(30));
        AssertSame(fromEvents, beforeRepair);
        Assert.Contains("raw_events", beforeRepair["sessionsSources"]!.AsArray().Select(s => (string)s!));

        // The Transformer repairs those days by itself, recorded in the run history as repairs.
        await _platform.App.StartResourceAsync("transformer");
        var started = System.Diagnostics.Stopwatch.StartNew();
        string Covered(string model) =>
            $"SELECT count() FROM transform_runs WHERE model = {ClickHouseSql.Literal(model)} AND trigger = 'repair' AND status = 'succeeded' " +
            $"AND started_at >= toDateTime({imported.ToUnixTimeSeconds()}) AND toDate(window_start) <= '{today.AddDays(-33):yyyy-MM-dd}'";
        foreach (var model in new[] { "stg_events", "sessions", "rollup_active_users_daily", "active_users", "actor_first_seen" })
        {
            await Eventually.MatchesAsync(() => clickHouse.QueryScalarAsync(Covered(model)), n => n != "0", TimeSpan.FromSeconds(180));
        }

        var repaired = started.Elapsed;
        var afterRepair = await Eventually.MatchesAsync(() => AnswersAsync(api, range, "auto"),
            a => Same(a, fromEvents) && a["sessionsSources"]!.AsArray().Select(s => (string)s!).SequenceEqual(["sessions"]), TimeSpan.FromSeconds(60));
        AssertSame(fromEvents, afterRepair);
        Assert.Equal(["sessions"], afterRepair["sessionsSources"]!.AsArray().Select(s => (string)s!));

        // One more late event, for a day the repaired model holds: a session of its own, counted within seconds.
        var late = today.AddDays(-20).ToDateTime(new TimeOnly(3, 0), DateTimeKind.Utc);
        using (var response = await collector.PostAsync("/v1/events", Http.Json(Http.Event("app_open", "late-user", "late-1", late.ToString("O")))))
        {
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        var sent = System.Diagnostics.Stopwatch.StartNew();
        var asked = 0;
        // A new query string each time: the Api's output cache would otherwise answer for 10 s.
        var withLate = await Eventually.MatchesAsync(() => api.GetObjectAsync($"/v1/sessions?{range}&breakdown=country&n={++asked}"),
            a => (long)a["count"]! == sessions.Count + 1, TimeSpan.FromSeconds(30));
        Assert.Equal(sessions.Count + 1, (long)withLate["count"]!);
        _output.WriteLine($"30-day import: {events.Count} events ({resent.Count} resent), {sessions.Count} sessions; exact from events at once, " +
            $"repaired by the Transformer {repaired.TotalSeconds:0.0} s after its start; a late event counted {sent.Elapsed.TotalSeconds:0.0} s after it was sent");
    }

    /// <summary>Sessions, adoption, a funnel, retention and active users of the range, as one object per endpoint.</summary>
    private static async Task<JsonObject> AnswersAsync(HttpClient api, string range, string source)
    {
        var sessions = await api.GetObjectAsync($"/v1/sessions?{range}&source={source}");
        var adoption = await api.GetObjectAsync($"/v1/feature-adoption?feature=export_used&{range}&source={source}");
        var retention = await api.GetObjectAsync($"/v1/retention?grain=day&periods=7&{range}&source={source}");
        var active = await api.GetObjectAsync($"/v1/active-users?{range}&source={source}");
        var parts = range.Split('&').Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
        using var posted = await api.PostAsync("/v1/funnels", Http.Json(new JsonObject
        {
            ["from"] = parts["from"], ["to"] = parts["to"], ["tz"] = "UTC", ["source"] = source,
            ["steps"] = new JsonArray(new JsonObject { ["event"] = "signup_started" }, new JsonObject { ["event"] = "signup_submitted" }),
        }.ToJsonString()));
        posted.EnsureSuccessStatusCode();
        var funnel = await posted.ReadObjectAsync();
        return new JsonObject
        {
            ["sessions"] = Pick(sessions, "count", "medianSeconds", "p95Seconds", "eventsPerSession", "histogram"),
            ["sessionsSources"] = sessions["sources"]!.DeepClone(),
            ["adoption"] = Pick(adoption, "cohortUsers", "adopters", "cohorts"),
            ["retention"] = Pick(retention, "cohorts"),
            ["active"] = active.Where(p => p.Key is not ("sources" or "asOf")).Aggregate(new JsonObject(), (o, p) => { o[p.Key] = p.Value?.DeepClone(); return o; }),
            ["funnel"] = Pick(funnel, "steps"),
        };
    }

    private static JsonObject Pick(JsonObject answer, params string[] names) =>
        names.Aggregate(new JsonObject(), (o, name) => { o[name] = answer[name]?.DeepClone(); return o; });

    private static readonly string[] Compared = ["sessions", "adoption", "retention", "active", "funnel"];

    private static bool Same(JsonObject a, JsonObject b) => Compared.All(k => JsonNode.DeepEquals(a[k], b[k]));

    private static void AssertSame(JsonObject expected, JsonObject actual)
    {
        foreach (var key in Compared)
        {
            Assert.Equal(expected[key]!.ToJsonString(), actual[key]!.ToJsonString());
        }
    }

    /// <summary>
    /// 40 users over <paramref name="days"/> days from <paramref name="first"/>: on about half the days each has one or two
    /// sessions (at 09:00 and 15:00 plus a per-user offset, events 1 to 9 minutes apart), half of them with a client
    /// session id; a user's first session signs up (most complete it), and some sessions use the export feature.
    /// </summary>
    private static (List<string> Events, List<(DateTimeOffset Start, int Events)> Sessions) ImportedHistory(DateOnly first, int days)
    {
        var random = new Random(19);
        var events = new List<string>();
        var sessions = new List<(DateTimeOffset, int)>();
        for (var user = 0; user < 40; user++)
        {
            var signedUp = false;
            for (var day = 0; day < days; day++)
            {
                if (random.Next(2) == 0)
                {
                    continue;
                }

                foreach (var hour in random.Next(3) == 0 ? new[] { 9, 15 } : [9])
                {
                    var at = new DateTimeOffset(first.AddDays(day).ToDateTime(new TimeOnly(hour, user)), TimeSpan.Zero);
                    var names = new List<string> { "app_open" };
                    if (!signedUp)
                    {
                        names.Add("signup_started");
                        if (user % 4 != 0)
                        {
                            names.Add("signup_submitted");
                        }

                        signedUp = true;
                    }

                    names.AddRange(Enumerable.Range(0, random.Next(4)).Select(_ => random.Next(5) == 0 ? "export_used" : "screen_view"));
                    var sessionId = user % 2 == 0 ? $"s-{user}-{day}-{hour}" : null;
                    sessions.Add((at, names.Count));
                    foreach (var (name, i) in names.Select((n, i) => (n, i)))
                    {
                        var node = JsonNode.Parse(Http.Event(name, $"u{user}", $"imp-{user}-{day}-{hour}-{i}", at.ToString("O")))!.AsObject();
                        if (sessionId is not null)
                        {
                            node["session_id"] = sessionId;
                        }

                        events.Add(node.ToJsonString());
                        at = at.AddMinutes(random.Next(1, 10));
                    }
                }
            }
        }

        return (events, sessions);
    }

    public sealed class FastSchedulePlatform : PlatformFixture
    {
        protected override bool WithDemoData => false;

        protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
        {
            ["Resources:transformer:Environment:Transformer__Schedules__light"] = "00:00:02",
            ["Resources:transformer:Environment:Transformer__Schedules__heavy"] = "00:00:03",
        };
    }
}
