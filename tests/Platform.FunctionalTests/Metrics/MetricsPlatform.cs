using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Platform.ClickHouse;
using Platform.Testing;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// One platform for the metrics API tests: no demo data, the Transformer on fast schedules (so the
/// rollups catch up within seconds). Each test class makes its own tenants and sends its own events
/// through the Collector, then asks the Api.
/// </summary>
public class MetricsPlatform : PlatformFixture
{
    protected override bool WithDemoData => false;

    protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
    {
        ["Resources:transformer:Environment:Transformer__Schedules__light"] = "00:00:02",
        ["Resources:transformer:Environment:Transformer__Schedules__heavy"] = "00:00:03",
        // Answers are compared right after data changes; caching is tested on its own.
        ["Resources:api:Environment:Api__CacheDuration"] = "00:00:00",
        // Alert rules are looked at four times a second and retried after half a second, so the alert tests take seconds.
        ["Resources:api:Environment:Api__Alerts__Tick"] = "00:00:00.250",
        ["Resources:api:Environment:Api__Alerts__RetryBaseDelay"] = "00:00:00.500",
        ["Resources:api:Environment:Api__Alerts__DeliveryTimeout"] = "00:00:02",
    };

    /// <summary>The Api's JWT signing key, for tests that mint their own tokens.</summary>
    public string JwtSigningKey => App.Secret("jwt-signing-key");

    /// <summary>Sends events (JSON objects of the event contract) to the Collector in batches of 500; each must be accepted.</summary>
    public async Task SendAsync(TestTenant tenant, IEnumerable<JsonObject> events)
    {
        using var collector = CreateCollectorClient(tenant.WriteKey);
        foreach (var batch in events.Chunk(500))
        {
            using var response = await collector.PostAsync("/v1/events", Http.Json(new JsonArray(batch.Select(e => (JsonNode)e.DeepClone()).ToArray()).ToJsonString()));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }
    }

    /// <summary>Waits until raw_events holds <paramref name="distinctEvents"/> distinct event ids of the tenant.</summary>
    public async Task WaitForStoredAsync(TestTenant tenant, long distinctEvents)
    {
        var sql = $"SELECT uniqExact(event_id) FROM raw_events WHERE tenant_id = {ClickHouseSql.Literal(tenant.Id)}";
        var stored = await Eventually.MatchesAsync(() => Probe.ClickHouse.QueryLongAsync(sql), n => n >= distinctEvents, TimeSpan.FromSeconds(90));
        Assert.Equal(distinctEvents, stored);
    }

    /// <summary>Waits until every model has a successful build that started after <paramref name="after"/> (so rollups hold what was stored before it).</summary>
    public async Task WaitForModelsAsync(DateTimeOffset after)
    {
        // Every model built from events (the dimension models follow the CDC tables, on their own).
        string[] models =
        [
            "stg_events", "rollup_events_daily", "rollup_event_names_daily", "rollup_active_users_daily", "active_users", "actor_first_seen",
            "sessions", "fct_signup_funnel", "fct_retention", "fct_feature_adoption",
        ];
        var sql = $"""
            SELECT toUInt64(count()) FROM
            (
                SELECT model FROM transform_runs WHERE status = 'succeeded' AND model IN ({string.Join(", ", models.Select(ClickHouseSql.Literal))}) GROUP BY model
                HAVING max(started_at) >= {ClickHouseSql.Literal(after)}
            )
            """;
        var built = await Eventually.MatchesAsync(() => Probe.ClickHouse.QueryLongAsync(sql), n => n == models.Length, TimeSpan.FromSeconds(120));
        Assert.True(built == models.Length, $"only {built} of the {models.Length} event models were rebuilt after {after:O}");
    }

    /// <summary>An Api client with this credential (a read key or a token) as the bearer.</summary>
    public HttpClient Api(string credential) => ApiClient(this, credential);

    public static HttpClient ApiClient(PlatformFixture platform, string credential)
    {
        var client = platform.CreateHttpClient("api");
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        return client;
    }

    /// <summary>GETs a path that must answer 200 and returns its JSON.</summary>
    public static async Task<JsonObject> GetJsonAsync(HttpClient api, string pathAndQuery)
    {
        using var response = await api.GetAsync(pathAndQuery);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{pathAndQuery} answered {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    /// <summary>Asserts a 400 problem (never a 500) and returns its body.</summary>
    public static async Task<JsonObject> GetProblemAsync(HttpClient api, string pathAndQuery, HttpStatusCode expected = HttpStatusCode.BadRequest)
    {
        using var response = await api.GetAsync(pathAndQuery);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{pathAndQuery} answered {(int)response.StatusCode}, not {(int)expected}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(body)!.AsObject();
    }
}

/// <summary>The metrics tests share one platform; each class uses its own tenants.</summary>
[CollectionDefinition(Name)]
public sealed class MetricsCollection : ICollectionFixture<MetricsPlatform>
{
    public const string Name = "metrics";
}

/// <summary>Builds events of the event contract for tests.</summary>
public static class TestEvents
{
    public static JsonObject Track(string name, string user, DateTimeOffset time, string? id = null, string? country = null, string? device = null,
        string? os = null, string? appVersion = null, string? sessionId = null, JsonObject? properties = null, string? anonymousId = null)
    {
        var context = new JsonObject();
        if (country is not null) context["country"] = country;
        if (device is not null) context["device"] = device;
        if (os is not null) context["os"] = os;
        if (appVersion is not null) context["app_version"] = appVersion;
        var e = new JsonObject
        {
            ["event"] = name,
            ["event_id"] = id ?? Guid.NewGuid().ToString("N"),
            ["timestamp"] = time.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ"),
            ["context"] = context,
        };
        if (user.Length > 0) e["user_id"] = user;
        if (anonymousId is not null) e["anonymous_id"] = anonymousId;
        if (sessionId is not null) e["session_id"] = sessionId;
        if (properties is not null) e["properties"] = properties;
        return e;
    }
}
