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
