using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;
using Platform.Tenancy;
using Platform.Testing;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// /v1/users/{userId}/events: only with the users scope; one person's events (by user_id or
/// anonymous_id) newest first, copies folded, paged without gaps or overlaps, never another
/// tenant's events even for the same or a foreign user id.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class TimelineTests(MetricsPlatform platform)
{
    private static readonly DateTimeOffset Now = new(DateTime.UtcNow.Date, TimeSpan.Zero);

    private async Task<string> UsersKeyAsync(TestTenant tenant)
    {
        await using var dataSource = NpgsqlDataSource.Create(platform.App["platform"].ConnectionString!);
        return await new TenantDirectory(dataSource, TimeProvider.System).IssueKeyAsync(tenant.Id, ApiKeyKind.Read, [ApiScopes.Users]);
    }

    [Fact]
    public async Task Timeline_is_one_persons_events_newest_first_in_pages()
    {
        var tenant = await platform.CreateTenantAsync();
        var foreign = await platform.CreateTenantAsync();
        var noon = Now.AddDays(-1).AddHours(12);
        var mine = new List<JsonObject>
        {
            TestEvents.Track("signup", "alice", noon, id: "e1", country: "DE", device: "mobile", os: "iOS", appVersion: "1.2.0", sessionId: "s1",
                properties: new JsonObject { ["plan"] = "pro", ["seats"] = 3, ["trial"] = true, ["coupon"] = null }),
            TestEvents.Track("view", "", noon.AddMinutes(-30), id: "e2", anonymousId: "alice"),          // before login, anonymous
            TestEvents.Track("view", "alice", noon.AddMinutes(5), id: "e3b", anonymousId: "anon-7"),
            TestEvents.Track("view", "alice", noon.AddMinutes(5), id: "e3a"),                            // same second: by id
            TestEvents.Track("buy", "alice", noon.AddHours(2), id: "e4", properties: new JsonObject { ["amount"] = 9.5 }),
            TestEvents.Track("open", "alice", Now.AddDays(-10), id: "e5"),                                // late, still in 30 days
            TestEvents.Track("open", "alice", Now.AddDays(-40), id: "e6"),                                // outside the default window
        };
        var others = new List<JsonObject>
        {
            TestEvents.Track("view", "bob", noon.AddMinutes(1), id: "o1"),
            TestEvents.Track("view", "", noon.AddMinutes(2), id: "o2", anonymousId: "alice-2"),
        };
        await platform.SendAsync(tenant, mine.Concat(others));
        await platform.SendAsync(tenant, [mine[4]]); // a copy of e4
        await platform.SendAsync(foreign, [
            TestEvents.Track("view", "alice", noon.AddMinutes(10), id: "f1"),
            TestEvents.Track("view", "mallory", noon.AddMinutes(11), id: "f2"),
        ]);
        await platform.WaitForStoredAsync(tenant, mine.Count + others.Count);
        await platform.WaitForStoredAsync(foreign, 2);
        var api = platform.Api(await UsersKeyAsync(tenant));

        var timeline = await MetricsPlatform.GetJsonAsync(api, "/v1/users/alice/events");
        Assert.Equal(["e4", "e3b", "e3a", "e1", "e2", "e5"], Ids(timeline));
        Assert.Null(timeline["nextBefore"]);
        var signup = timeline["events"]!.AsArray()[3]!.AsObject();
        Assert.Equal("track", signup["type"]!.GetValue<string>());
        Assert.Equal("signup", signup["name"]!.GetValue<string>());
        Assert.Equal(noon, signup["time"]!.GetValue<DateTimeOffset>());
        Assert.Equal("s1", signup["sessionId"]!.GetValue<string>());
        Assert.Equal("DE", signup["country"]!.GetValue<string>());
        Assert.Equal("mobile", signup["device"]!.GetValue<string>());
        Assert.Equal("iOS", signup["os"]!.GetValue<string>());
        Assert.Equal("1.2.0", signup["appVersion"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(new JsonObject { ["plan"] = "pro", ["seats"] = 3, ["trial"] = true, ["coupon"] = null }, signup["properties"]));
        Assert.Equal(9.5, timeline["events"]![0]!["properties"]!["amount"]!.GetValue<double>());

        // An explicit range reaches the older event.
        var older = await MetricsPlatform.GetJsonAsync(api, $"/v1/users/alice/events?from={Day(Now.AddDays(-60))}&to={Day(Now.AddDays(-20))}");
        Assert.Equal(["e6"], Ids(older));

        // Pages of two: no overlap, no gap, ties at one second kept apart by the event id.
        var paged = new List<string>();
        string? before = null;
        var pages = 0;
        do
        {
            var page = await MetricsPlatform.GetJsonAsync(api, $"/v1/users/alice/events?limit=2{(before is null ? "" : $"&before={before}")}");
            paged.AddRange(Ids(page));
            before = page["nextBefore"]?.GetValue<string>();
            pages++;
        }
        while (before is not null && pages < 10);
        Assert.Equal(["e4", "e3b", "e3a", "e1", "e2", "e5"], paged);
        Assert.Equal(3, pages);

        // Another tenant's user ids are never reached: the same id shows only this tenant's events, a foreign one none.
        Assert.Empty(Ids(await MetricsPlatform.GetJsonAsync(api, "/v1/users/mallory/events")));
        Assert.Empty(Ids(await MetricsPlatform.GetJsonAsync(api, $"/v1/users/{Uri.EscapeDataString("alice' OR 1=1 --")}/events")));
        Assert.Empty(Ids(await MetricsPlatform.GetJsonAsync(api, $"/v1/users/{Uri.EscapeDataString("x' OR user_id != '")}/events")));
        var foreignApi = platform.Api(await UsersKeyAsync(foreign));
        Assert.Equal(["f1"], Ids(await MetricsPlatform.GetJsonAsync(foreignApi, "/v1/users/alice/events")));
    }

    [Fact]
    public async Task Timeline_needs_the_users_scope()
    {
        var tenant = await platform.CreateTenantAsync();
        var problem = await MetricsPlatform.GetProblemAsync(platform.Api(tenant.ReadKey), "/v1/users/alice/events", HttpStatusCode.Forbidden);
        Assert.Contains("users", problem["detail"]!.GetValue<string>());
        await MetricsPlatform.GetProblemAsync(platform.Api("not-a-key"), "/v1/users/alice/events", HttpStatusCode.Unauthorized);
        var empty = await MetricsPlatform.GetJsonAsync(platform.Api(await UsersKeyAsync(tenant)), "/v1/users/alice/events");
        Assert.Empty(Ids(empty));
    }

    [Fact]
    public async Task Hostile_inputs_are_400_problems()
    {
        var tenant = await platform.CreateTenantAsync();
        var api = platform.Api(await UsersKeyAsync(tenant));
        var cursorOfGarbage = Convert.ToBase64String(Encoding.UTF8.GetBytes("soon:x")).TrimEnd('=');
        foreach (var (path, parameter) in new[]
        {
            ($"/v1/users/{new string('u', 257)}/events", "userId"),
            ("/v1/users/a%0Ab/events", "userId"),
            ("/v1/users/alice/events?limit=0", "limit"),
            ("/v1/users/alice/events?limit=1001", "limit"),
            ("/v1/users/alice/events?limit=-1", "limit"),
            ("/v1/users/alice/events?limit=1%20OR%201%3D1", "limit"),
            ("/v1/users/alice/events?before=x'%20OR%201%3D1%20--", "before"),
            ($"/v1/users/alice/events?before={cursorOfGarbage}", "before"),
            ("/v1/users/alice/events?from=2026-02-01&to=2026-01-01", "from"),
            ("/v1/users/alice/events?from=2000-01-01&to=2030-01-01", "from"),
            ("/v1/users/alice/events?tz=Nowhere%2FLand", "tz"),
        })
        {
            var problem = await MetricsPlatform.GetProblemAsync(api, path);
            Assert.Equal(parameter, problem["parameter"]?.GetValue<string>());
        }

        // A well-formed cursor carrying SQL in its id is only a value.
        var sqlCursor = Convert.ToBase64String(Encoding.UTF8.GetBytes("4000000000:x' OR 1=1 --")).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        Assert.Empty(Ids(await MetricsPlatform.GetJsonAsync(api, $"/v1/users/alice/events?before={sqlCursor}")));
    }

    [Fact]
    public async Task OpenApi_documents_the_three_endpoints()
    {
        var tenant = await platform.CreateTenantAsync();
        var document = await MetricsPlatform.GetJsonAsync(platform.Api(tenant.ReadKey), "/openapi/v1.json");
        var paths = document["paths"]!.AsObject();
        Assert.Contains("/v1/users/{userId}/events", paths.Select(p => p.Key));
        Assert.Contains(paths, p => p.Key.TrimEnd('/') == "/v1/sessions");
        Assert.Contains(paths, p => p.Key.TrimEnd('/') == "/v1/feature-adoption");
    }

    private static List<string> Ids(JsonObject timeline) => timeline["events"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()).ToList();

    private static string Day(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd");
}
