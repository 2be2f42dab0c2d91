using System.Net;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>
/// With a broker that keeps little, intake refuses events (503, Retry-After) once the Ingestor is too
/// far behind, instead of acknowledging events the broker may delete before they are stored.
/// </summary>
public sealed class BackpressureTests : IAsyncLifetime
{
    private readonly SmallBacklogPlatform _platform = new();

    public Task InitializeAsync() => _platform.InitializeAsync();

    public Task DisposeAsync() => _platform.DisposeAsync();

    [Fact]
    public async Task IntakeRefusesWhileTheIngestorIsTooFarBehindAndEveryAcceptedEventArrivesOnce()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var api = _platform.CreateApiClient(tenant.ReadKey);
        await _platform.App.StopResourceAsync("ingestor");

        // One user, so one partition: 20 events a request against a backlog limit of 50 per partition.
        var accepted = new List<string>();
        HttpResponseMessage? refused = null;
        for (var request = 0; request < 40 && refused is null; request++)
        {
            var ids = Enumerable.Range(0, 20).Select(i => $"bp-{request}-{i}").ToList();
            var response = await collector.PostAsync("/v1/events", Http.Json("[" + string.Join(",", ids.Select(id => Http.Event("queued", "one-user", id))) + "]"));
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                accepted.AddRange(ids);
                response.Dispose();
                await Task.Delay(100); // let the backlog be measured
            }
            else
            {
                refused = response;
            }
        }

        Assert.NotNull(refused);
        var problem = await refused.ReadObjectAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("Ingest backlog too large", (string)problem["title"]!);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.InRange(accepted.Count, 60, 200);
        refused.Dispose();

        await _platform.App.StartResourceAsync("ingestor");
        var counted = await Eventually.MatchesAsync(() => api.CountAsync(), r => (long)r["total"]! >= accepted.Count, TimeSpan.FromSeconds(60));
        Assert.Equal(accepted.Count, (long)counted["total"]!);

        using var later = await Eventually.MatchesAsync(
            () => collector.PostAsync("/v1/events", Http.Json(Http.Event("after", "one-user"))), r => r.StatusCode == HttpStatusCode.Accepted, TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.Accepted, later.StatusCode);
    }

    private sealed class SmallBacklogPlatform : PlatformFixture
    {
        protected override bool WithDemoData => false;

        protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
        {
            ["Resources:collector:Environment:Collector__MaxPartitionBacklog"] = "50",
        };
    }
}
