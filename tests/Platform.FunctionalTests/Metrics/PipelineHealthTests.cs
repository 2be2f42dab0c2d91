using System.Net;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// GET /v1/pipeline/health against the real pipeline: the caller's newest times and recent counts move
/// as its events arrive and never show another tenant's; the platform part shows the Ingestor's
/// consumer lag, the Transformer's builds and ClickHouse's parts.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class PipelineHealthTests(MetricsPlatform platform)
{
    private const string Path = "/v1/pipeline/health";

    [Fact]
    public async Task TenantFreshnessMovesWithItsOwnEventsOnly()
    {
        var tenant = await platform.CreateTenantAsync();
        var other = await platform.CreateTenantAsync();
        using var api = platform.Api(tenant.ReadKey);
        using var otherApi = platform.Api(other.ReadKey);

        var empty = (await MetricsPlatform.GetJsonAsync(api, Path))["tenant"]!;
        Assert.Null(empty["newestEventTime"]);
        Assert.Null(empty["newestReceivedAt"]);
        Assert.Null(empty["ingestLagSeconds"]);
        Assert.Equal(0, empty["eventsLast5Minutes"]!.GetValue<long>());

        // Whole seconds: the contract's timestamps carry no more here.
        var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var newest = now.AddHours(-3);
        var duplicate = TestEvents.Track("signup_started", "u1", now.AddDays(-2).AddMinutes(-7), id: "dup-1");
        var sentFrom = DateTimeOffset.UtcNow.AddSeconds(-1);
        await platform.SendAsync(tenant, [
            duplicate,
            TestEvents.Track("page_viewed", "u1", now.AddDays(-1)),
            TestEvents.Track("page_viewed", "u2", newest),
        ]);
        await platform.SendAsync(tenant, [duplicate]); // the same event again: one event, two deliveries
        // The other tenant's event is newer, with a name found nowhere else: it must never show up in the first tenant's answer.
        var otherName = "other_" + Guid.NewGuid().ToString("N")[..8];
        var otherNewest = now.AddMinutes(-20);
        await platform.SendAsync(other, [TestEvents.Track(otherName, "v1", otherNewest)]);
        await platform.WaitForStoredAsync(tenant, 3);
        await platform.WaitForStoredAsync(other, 1);

        var first = await GetHealthAsync(api);
        var health = first["tenant"]!;
        Assert.Equal(newest, health["newestEventTime"]!.GetValue<DateTimeOffset>());
        Assert.Equal(3, health["eventsLast5Minutes"]!.GetValue<long>());
        var received = health["newestReceivedAt"]!.GetValue<DateTimeOffset>();
        Assert.InRange(received, sentFrom.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.InRange(health["newestInsertedAt"]!.GetValue<DateTimeOffset>(), received, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.InRange(health["ingestLagSeconds"]!.GetValue<double>(), 0, 60);
        Assert.InRange(health["maxIngestLagSeconds"]!.GetValue<long>(), 0, 60);
        Assert.InRange(health["secondsSinceNewestInsert"]!.GetValue<long>(), 0, 120);
        Assert.DoesNotContain(other.Id, first.ToJsonString(), StringComparison.Ordinal);
        Assert.DoesNotContain(otherName, first.ToJsonString(), StringComparison.Ordinal);

        // A newer event moves the newest time; a late one (a week old) counts as received now but does not.
        var newer = now.AddMinutes(-10);
        await platform.SendAsync(tenant, [TestEvents.Track("page_viewed", "u3", newer), TestEvents.Track("page_viewed", "u4", now.AddDays(-7))]);
        await platform.WaitForStoredAsync(tenant, 5);
        var moved = (await GetHealthAsync(api))["tenant"]!;
        Assert.Equal(newer, moved["newestEventTime"]!.GetValue<DateTimeOffset>());
        Assert.Equal(5, moved["eventsLast5Minutes"]!.GetValue<long>());
        Assert.True(moved["newestReceivedAt"]!.GetValue<DateTimeOffset>() >= received);

        // The other tenant sees its own newest time, never the first one's.
        var otherHealth = await GetHealthAsync(otherApi);
        Assert.Equal(otherNewest, otherHealth["tenant"]!["newestEventTime"]!.GetValue<DateTimeOffset>());
        Assert.Equal(1, otherHealth["tenant"]!["eventsLast5Minutes"]!.GetValue<long>());
        Assert.DoesNotContain(tenant.Id, otherHealth.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlatformPartShowsConsumerLagTransformerRunsAndParts()
    {
        var tenant = await platform.CreateTenantAsync();
        using var api = platform.Api(tenant.ReadKey);
        var after = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        await platform.SendAsync(tenant, [TestEvents.Track("page_viewed", "u1", after.AddMinutes(-1))]);
        await platform.WaitForStoredAsync(tenant, 1);
        await platform.WaitForModelsAsync(after);

        // The Ingestor samples its lag every few seconds; the first sample comes a little after it joined its group.
        var health = await Eventually.MatchesAsync(() => GetHealthAsync(api), h => h["platform"]!["consumerLag"]!["sampledAt"] is not null, TimeSpan.FromSeconds(30));
        var lag = health["platform"]!["consumerLag"]!;
        Assert.Null(lag["error"]);
        Assert.True(lag["totalLag"]!.GetValue<long>() >= 0);
        var partitions = lag["partitions"]!.AsArray();
        Assert.NotEmpty(partitions);
        Assert.All(partitions, p => Assert.Equal("events", p!["topic"]!.GetValue<string>()));
        Assert.Equal(lag["totalLag"]!.GetValue<long>(), partitions.Sum(p => p!["lag"]!.GetValue<long>()));
        Assert.InRange(lag["sampledAt"]!.GetValue<DateTimeOffset>(), DateTimeOffset.UtcNow.AddSeconds(-30), DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.True(lag["counters"]!["inserted"]!.GetValue<long>() >= 1);

        // Every model's latest build is listed, and it started after the events were stored (WaitForModelsAsync).
        var runs = health["platform"]!["transformRuns"]!.AsArray().Select(r => r!.AsObject()).ToList();
        Assert.True(runs.Count >= 8, $"only {runs.Count} models listed");
        Assert.Equal(runs.Count, runs.Select(r => r["model"]!.GetValue<string>()).Distinct().Count());
        foreach (var model in new[] { "stg_events", "rollup_events_daily", "sessions" })
        {
            var run = runs.Single(r => r["model"]!.GetValue<string>() == model);
            Assert.True(run["startedAt"]!.GetValue<DateTimeOffset>() >= after, $"{model}'s latest build started before {after:O}");
            Assert.True(run["durationMs"]!.GetValue<long>() >= 0);
            Assert.True(run["rows"]!.GetValue<long>() >= 0);
        }

        // Failing tests carry no sample rows (any tenant's data); parts are listed per table.
        Assert.All(health["platform"]!["failingTests"]!.AsArray(), t => Assert.Null(t!["samples"]));
        var tables = health["platform"]!["clickHouse"]!["tables"]!.AsArray().Select(t => t!.AsObject()).ToList();
        var raw = tables.Single(t => t["table"]!.GetValue<string>() == "raw_events");
        Assert.True(raw["activeParts"]!.GetValue<long>() >= 1);
        Assert.True(raw["rows"]!.GetValue<long>() >= 1);
        Assert.Contains(tables, t => t["table"]!.GetValue<string>() == "transform_runs");
        Assert.NotNull(health["platform"]!["clickHouse"]!["pendingMutations"]!.AsArray());
    }

    [Fact]
    public async Task PlatformPartShowsTheCdcBridgeWithoutRowData()
    {
        var tenant = await platform.CreateTenantAsync();
        using var api = platform.Api(tenant.ReadKey);
        var cdc = (await GetHealthAsync(api))["platform"]!["cdc"]!.AsObject();

        // The AppHost's default tables, as the Ingestor reports them: state and counts, never rows.
        Assert.Null(cdc["error"]);
        Assert.True(cdc["enabled"]!.GetValue<bool>());
        var tables = cdc["tables"]!.AsArray().Select(t => t!.AsObject()).ToList();
        Assert.Equal(["public.accounts", "public.subscriptions", "public.users"], tables.Select(t => t["table"]!.GetValue<string>()));
        foreach (var table in tables)
        {
            var name = table["table"]!.GetValue<string>()["public.".Length..];
            Assert.Equal("cdc_" + name, table["clickHouseTable"]!.GetValue<string>());
            Assert.Equal($"cdc_{name}_current", table["view"]!.GetValue<string>());
            Assert.Contains(table["status"]!.GetValue<string>(), new[] { "pending", "snapshotting", "streaming", "refused", "stopped" });
            Assert.True(table["appliedChanges"]!.GetValue<long>() >= 0);
            Assert.True(table["applyLagSeconds"]!.GetValue<double>() >= 0);
            Assert.True(table.ContainsKey("appliedLsn") && table.ContainsKey("lastAppliedCommitTime") && table.ContainsKey("snapshotLsn") && table.ContainsKey("capturedChanges"));
        }

        Assert.True(cdc.ContainsKey("slot") && cdc.ContainsKey("replicationLagBytes"));
        Assert.True(cdc["applyLagSeconds"]!.GetValue<double>() >= 0);
        Assert.True(cdc["deadLettered"]!.GetValue<long>() >= 0);
        Assert.DoesNotContain(tenant.Id, cdc.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NeedsAReadCredential()
    {
        using var anonymous = platform.CreateHttpClient("api");
        using var response = await anonymous.GetAsync(Path);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task IngestorStatusReportsLagAndCounters()
    {
        using var ingestor = platform.CreateHttpClient("ingestor");
        var status = await Eventually.MatchesAsync(
            async () => JsonNode.Parse(await ingestor.GetStringAsync("/v1/status"))!.AsObject(),
            s => s["lagSampledAt"] is not null, TimeSpan.FromSeconds(30));
        Assert.True(status["totalLag"]!.GetValue<long>() >= 0);
        Assert.NotEmpty(status["partitions"]!.AsArray());
        Assert.True(status["counters"]!["consumed"]!.GetValue<long>() >= status["counters"]!["duplicatesDropped"]!.GetValue<long>());
        Assert.Equal(3, status["cdc"]!["tables"]!.AsArray().Count);
    }

    private static Task<JsonObject> GetHealthAsync(HttpClient api) => MetricsPlatform.GetJsonAsync(api, Path);
}
