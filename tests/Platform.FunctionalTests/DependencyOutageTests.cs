using System.Net;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>A dependency going away is a 503 with Retry-After and a problem body, never a 500; coming back heals it.</summary>
public sealed class DependencyOutageTests : IAsyncLifetime
{
    private readonly OutagePlatform _platform = new();

    public Task InitializeAsync() => _platform.InitializeAsync();

    public Task DisposeAsync() => _platform.DisposeAsync();

    [Fact]
    public async Task PostgresDownMeans503ForKeysNotSeenYetAndEverythingWorksAgainWhenItReturns()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var api = _platform.CreateApiClient(tenant.ReadKey);

        await _platform.App.StopResourceAsync("postgres");
        using var write = await collector.PostAsync("/v1/events", Http.Json(Http.Event("during_outage", "u1")));
        using var read = await api.GetAsync("/v1/events/count");
        await AssertUnavailableAsync(write, "Key store unavailable");
        await AssertUnavailableAsync(read, "Key store unavailable");

        await _platform.App.StartResourceAsync("postgres");
        using var retried = await collector.PostAsync("/v1/events", Http.Json(Http.Event("after_outage", "u1")));
        Assert.Equal(HttpStatusCode.Accepted, retried.StatusCode);
        Assert.Equal(1, (long)(await api.CountUntilAsync(1))["total"]!);
    }

    [Fact]
    public async Task ClickHouseDownMeans503FromTheApiAndEventsAcceptedMeanwhileArriveWhenItReturns()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var api = _platform.CreateApiClient(tenant.ReadKey);
        await api.CountAsync(); // the read key is now known to the Api

        await _platform.App.StopResourceAsync("clickhouse");
        using var accepted = await collector.PostAsync("/v1/events", Http.Json($"[{Http.Event("buffered", "u1")}, {Http.Event("buffered", "u2")}]"));
        using var read = await api.GetAsync("/v1/events/count");
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode); // Kafka holds them
        await AssertUnavailableAsync(read, "Event store unavailable");

        await _platform.App.StartResourceAsync("clickhouse");
        var counted = await Eventually.MatchesAsync(() => api.CountAsync(), r => (long)r["total"]! >= 2, TimeSpan.FromSeconds(60));
        Assert.Equal(2, (long)counted["total"]!);
    }

    private static async Task AssertUnavailableAsync(HttpResponseMessage response, string title)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal(title, (string)System.Text.Json.Nodes.JsonNode.Parse(body)!["title"]!);
    }

    private sealed class OutagePlatform : PlatformFixture
    {
        protected override bool WithDemoData => false;
    }
}
