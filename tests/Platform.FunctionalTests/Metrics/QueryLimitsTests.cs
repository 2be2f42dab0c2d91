using System.Net;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// The limits around queries, on a platform configured tight: answers cached per tenant (never
/// served to another), a per-tenant concurrency limit answered with 429 problems while another
/// tenant goes on, and a result row cap answered with a 400 instead of a cut answer.
/// </summary>
public sealed class QueryLimitsTests(QueryLimitsTests.LimitsPlatform platform) : IClassFixture<QueryLimitsTests.LimitsPlatform>
{
    [Fact]
    public async Task AnswersAreCachedPerTenantForTheConfiguredTime()
    {
        var first = await platform.CreateTenantAsync();
        var second = await platform.CreateTenantAsync();
        var time = DateTimeOffset.UtcNow.AddMinutes(-5);
        await SendAsync(first, 2, time);
        await SendAsync(second, 5, time);
        await platform.WaitForStoredAsync(first, 2);
        await platform.WaitForStoredAsync(second, 5);
        using var firstApi = MetricsPlatform.ApiClient(platform, first.ReadKey);
        using var secondApi = MetricsPlatform.ApiClient(platform, second.ReadKey);
        const string path = "/v1/trends?event=open&from=2026-01-01";

        Assert.Equal(2, await TotalAsync(firstApi, path));
        await SendAsync(first, 3, time);
        await platform.WaitForStoredAsync(first, 5);

        using var cached = await firstApi.GetAsync(path);
        Assert.True(cached.Headers.Age is not null, "a repeated question is answered from the cache");
        Assert.Equal(2, (long)JsonNode.Parse(await cached.Content.ReadAsStringAsync())!["series"]![0]!["total"]!);
        Assert.Equal(5, await TotalAsync(secondApi, path));
        Assert.Equal(5, await TotalAsync(firstApi, path + "&interval=week"));
    }

    [Fact]
    public async Task ATenantOverItsConcurrencyLimitGets429sWhileAnotherTenantIsAnswered()
    {
        var busy = await platform.CreateTenantAsync();
        var calm = await platform.CreateTenantAsync();
        await SendAsync(busy, 50, DateTimeOffset.UtcNow.AddMinutes(-5));
        using var busyApi = MetricsPlatform.ApiClient(platform, busy.ReadKey);
        using var calmApi = MetricsPlatform.ApiClient(platform, calm.ReadKey);

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? rejected = null;
        for (var round = 0; round < 5 && rejected is null; round++)
        {
            var requests = Enumerable.Range(0, 12)
                .Select(i => busyApi.GetAsync($"/v1/trends?source=raw&interval=minute&from=2026-01-01&to=2026-01-03&n={round}-{i}")).ToList();
            var calmAnswer = calmApi.GetAsync($"/v1/trends?n={round}");
            var responses = await Task.WhenAll(requests);
            Assert.Equal(HttpStatusCode.OK, (await calmAnswer).StatusCode);
            statuses.AddRange(responses.Select(r => r.StatusCode));
            rejected = responses.FirstOrDefault(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        }

        Assert.All(statuses, s => Assert.True(s is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, s.ToString()));
        Assert.NotNull(rejected);
        Assert.Equal("application/problem+json", rejected!.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(rejected.Headers.RetryAfter);
    }

    [Fact]
    public async Task AnAnswerOverTheRowCapIsA400NotACutAnswer()
    {
        var tenant = await platform.CreateTenantAsync();
        var time = DateTimeOffset.UtcNow.AddMinutes(-5);
        await platform.SendAsync(tenant, Enumerable.Range(0, 8).Select(i => TestEvents.Track("open", "u1", time, properties: new JsonObject { ["plan"] = $"p{i}" })));
        await platform.WaitForStoredAsync(tenant, 8);
        using var api = MetricsPlatform.ApiClient(platform, tenant.ReadKey);

        var problem = await MetricsPlatform.GetProblemAsync(api, "/v1/trends?event=open&breakdown=property.plan&from=2026-01-01");
        Assert.Equal("Answer too large", (string?)problem["title"]);
        Assert.Equal(8, await TotalAsync(api, "/v1/trends?event=open&from=2026-01-01"));
    }

    private async Task SendAsync(TestTenant tenant, int count, DateTimeOffset time) =>
        await platform.SendAsync(tenant, Enumerable.Range(0, count).Select(i => TestEvents.Track("open", $"u{i}", time)));

    private static async Task<long> TotalAsync(HttpClient api, string path) =>
        (long)(await MetricsPlatform.GetJsonAsync(api, path))["series"]![0]!["total"]!;

    public sealed class LimitsPlatform : MetricsPlatform
    {
        protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
        {
            ["Resources:api:Environment:Api__CacheDuration"] = "00:01:00",
            ["Resources:api:Environment:Api__MaxConcurrentQueriesPerTenant"] = "1",
            ["Resources:api:Environment:Api__QueuedQueriesPerTenant"] = "0",
            ["Resources:api:Environment:Api__MaxResultRows"] = "5",
        };
    }
}
