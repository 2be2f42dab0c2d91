using System.Net;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests;

[Collection(PlatformCollection.Name)]
public class EventFlowTests(PlatformFixture platform)
{
    [Fact]
    public async Task EventsPostedToTheCollectorAreCountedByTheApiWithinSeconds()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);

        using var response = await collector.PostAsync("/v1/events",
            Http.Json($"[{Http.Event("signup", "u1")}, {Http.Event("page_view", "u1")}, {Http.Event("page_view", "u2")}]"));
        var counted = await api.CountUntilAsync(3);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(3, (int)(await response.ReadObjectAsync())["accepted"]!);
        Assert.Equal(3, (long)counted["total"]!);
        var events = counted["events"]!.AsArray().ToDictionary(e => (string)e!["event"]!, e => (long)e!["count"]!);
        Assert.Equal(2, events["page_view"]);
        Assert.Equal(1, events["signup"]);
    }

    [Fact]
    public async Task AnEventResentWithTheSameIdCountsOnce()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);
        var batch = Http.Json($"{{\"batch\": [{Http.Event("purchase", "u1", "order-1")}, {Http.Event("purchase", "u2", "order-2")}]}}");
        var body = await batch.ReadAsStringAsync();

        for (var i = 0; i < 3; i++)
        {
            using var response = await collector.PostAsync("/v1/events", Http.Json(body));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        using var marker = await collector.PostAsync("/v1/events", Http.Json(Http.Event("marker", "u1")));
        var counted = await api.CountUntilAsync(3);
        await Task.Delay(500); // any straggling copy would have arrived with the marker
        counted = await api.CountAsync();

        Assert.Equal(3, (long)counted["total"]!);
    }

    [Fact]
    public async Task ABatchWithBadEventsAcceptsTheGoodOnesAndNamesTheBadOnes()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);

        using var response = await collector.PostAsync("/v1/events", Http.Json($$$"""
            [
              {{{Http.Event("good_one", "u1")}}},
              {"event": 42, "user_id": "u1"},
              {"event": "no_user"},
              {"event": "nested", "user_id": "u1", "properties": {"a": {"b": 1} } },
              {"event": "local_time", "user_id": "u1", "timestamp": "2026-01-01T10:00:00"},
              {{{Http.Event("good_two", "u2")}}}
            ]
            """));
        var result = await response.ReadObjectAsync();
        var counted = await api.CountUntilAsync(2);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(2, (int)result["accepted"]!);
        Assert.Equal(4, (int)result["rejected"]!);
        var errors = result["errors"]!.AsArray().Select(e => ((int)e!["index"]!, (string)e["field"]!)).ToList();
        Assert.Equal([(1, "event"), (2, "user_id"), (3, "properties.a"), (4, "timestamp")], errors);
        Assert.Equal(2, (long)counted["total"]!);
    }

    [Fact]
    public async Task TheDemoTenantsEventsAreQueryableWithItsReadKey()
    {
        using var api = platform.CreateApiClient(platform.Demo.ReadKey);
        // The demo spans the last 24 hours up to its start; a wider range keeps the oldest slot in view as time passes.
        var range = $"?from={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(-2).ToString("O"))}";

        var counted = await api.CountUntilAsync(480, range);

        Assert.Equal(480, (long)counted["total"]!);
        Assert.Equal(["feature_used", "page_view", "purchase", "signup"], counted["events"]!.AsArray().Select(e => (string)e!["event"]!).Order());
    }

    [Fact]
    public async Task TheCountCoversTheRequestedRangeOnly()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);
        var old = DateTimeOffset.UtcNow.AddDays(-3);

        using var response = await collector.PostAsync("/v1/events",
            Http.Json($"[{Http.Event("old", "u1", timestamp: old.ToString("O"))}, {Http.Event("recent", "u1")}]"));
        var lastDay = await api.CountUntilAsync(1);
        var around = await api.CountUntilAsync(1, $"?from={Uri.EscapeDataString(old.AddHours(-1).ToString("O"))}&to={Uri.EscapeDataString(old.AddHours(1).ToString("O"))}");

        Assert.Equal("recent", (string)Assert.Single(lastDay["events"]!.AsArray())!["event"]!);
        Assert.Equal("old", (string)Assert.Single(around["events"]!.AsArray())!["event"]!);
    }

    [Fact]
    public async Task GzipBodiesAreAccepted()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);
        using var buffer = new MemoryStream();
        await using (var gzip = new System.IO.Compression.GZipStream(buffer, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
        {
            await gzip.WriteAsync(System.Text.Encoding.UTF8.GetBytes(Http.Event("zipped", "u1")));
        }

        var content = new ByteArrayContent(buffer.ToArray());
        content.Headers.ContentType = new("application/json");
        content.Headers.ContentEncoding.Add("gzip");
        using var response = await collector.PostAsync("/v1/events", content);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(1, (long)(await api.CountUntilAsync(1))["total"]!);
    }
}
