using Platform.Testing;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// POST /v1/funnels over a dataset whose answer is known by construction: signup -> activate ->
/// purchase (plan=pro), one-hour window, entries on one UTC day yesterday. A second tenant has the
/// same user ids and event names, every one of them converting, and must never show.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class FunnelTests(MetricsPlatform platform)
{
    private static readonly SemaphoreSlim SetupLock = new(1, 1);
    private static Dataset? _data;

    private sealed record Dataset(TestTenant Tenant, DateTimeOffset Day);

    /// <summary>
    /// The entry day: yesterday (UTC), so no event is too late for the staging model's incremental builds
    /// and the default answer reads stg_events for it (and raw_events from today on).
    /// </summary>
    private static readonly DateTimeOffset D = new(DateTime.UtcNow.Date.AddDays(-1), TimeSpan.Zero);

    private static IEnumerable<JsonObject> Events(bool foreign)
    {
        JsonObject E(string name, string user, TimeSpan at, string? id = null, string? country = null, string? plan = null) =>
            TestEvents.Track(name, user, D + at, id: id is null ? null : (foreign ? "f-" : "") + id, country: country,
                properties: plan is null ? null : new JsonObject { ["plan"] = plan });
        TimeSpan H(double hours) => TimeSpan.FromHours(hours);
        TimeSpan M(double minutes) => TimeSpan.FromMinutes(minutes);

        if (foreign)
        {
            // Same ids and names in another tenant: everyone converts, plus extra actors.
            foreach (var user in new[] { "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "x1", "x2" })
            {
                yield return E("signup", user, H(9), country: "DE");
                yield return E("activate", user, H(9) + M(1));
                yield return E("purchase", user, H(9) + M(2), plan: "pro");
            }

            yield break;
        }

        // u1: all three steps (gaps 600 s, 1200 s).
        yield return E("signup", "u1", H(1), country: "DE");
        yield return E("activate", "u1", H(1) + M(10));
        yield return E("purchase", "u1", H(1) + M(30), plan: "pro");

        // u2 enters twice: only the first entry (FR) counts, and its window has closed before the activation.
        yield return E("signup", "u2", H(2), country: "FR");
        yield return E("signup", "u2", H(5), country: "US");
        yield return E("activate", "u2", H(5) + M(10));

        // u3: steps out of order; the activation before the signup does not count, so the purchase does not either.
        yield return E("activate", "u3", H(3));
        yield return E("signup", "u3", H(3) + M(5), country: "DE");
        yield return E("purchase", "u3", H(3) + M(10), plan: "pro");

        // u4: activation exactly at the window's edge (counts), purchase one second past it (does not).
        yield return E("signup", "u4", H(4), country: "US");
        yield return E("activate", "u4", H(4) + TimeSpan.FromSeconds(3600));
        yield return E("purchase", "u4", H(4) + TimeSpan.FromSeconds(3601), plan: "pro");

        // u5: three events in one second, ordered by event id: the activation's id is after the signup's (counts),
        // the purchase's before the activation's (does not).
        yield return E("signup", "u5", H(6), id: "e-u5-b", country: "DE");
        yield return E("activate", "u5", H(6), id: "e-u5-c");
        yield return E("purchase", "u5", H(6), id: "e-u5-a", plan: "pro");

        // u6: the activation sent twice with one id (counts once); the first purchase fails the step's filter.
        yield return E("signup", "u6", H(7), country: "FR");
        yield return E("activate", "u6", H(7) + M(20), id: "e-u6-activate");
        yield return E("activate", "u6", H(7) + M(20), id: "e-u6-activate");
        yield return E("purchase", "u6", H(7) + M(40), plan: "free");
        yield return E("purchase", "u6", H(7) + M(50), plan: "pro");

        // u7: enters before the UTC range (in it for Asia/Tokyo), activates 70 minutes later: past the window.
        yield return E("signup", "u7", H(-1), country: "JP");
        yield return E("activate", "u7", M(10));
        yield return E("signup", "u7", H(24), country: "JP"); // at 'to': never an entry

        // u8: enters late in the day, activates after 'to' but inside the window (counts).
        yield return E("signup", "u8", H(23.5), country: "US");
        yield return E("activate", "u8", H(24) + M(10));
    }

    private async Task<Dataset> DataAsync()
    {
        await SetupLock.WaitAsync();
        try
        {
            if (_data is not null)
            {
                return _data;
            }

            var tenant = await platform.CreateTenantAsync();
            var foreign = await platform.CreateTenantAsync();
            var events = Events(false).ToList();
            await platform.SendAsync(tenant, events);
            await platform.SendAsync(foreign, Events(true));
            await platform.WaitForStoredAsync(tenant, events.Select(e => (string)e["event_id"]!).Distinct().Count());
            await platform.WaitForStoredAsync(foreign, 30);
            // A build that starts past TenantSources' clock margin (10 s) after the inserts takes them as settled,
            // so the default answer reads stg_events and the raw comparison means something.
            await platform.WaitForModelsAsync(DateTimeOffset.UtcNow.AddSeconds(12));
            await Task.Delay(TimeSpan.FromSeconds(6)); // the Api re-reads build history every 5 s
            return _data = new Dataset(tenant, D);
        }
        finally
        {
            SetupLock.Release();
        }
    }

    private static JsonObject Funnel(string from, string to, string? tz = null, string? breakdown = null, string? source = null, long window = 3600)
    {
        var body = new JsonObject
        {
            ["from"] = from,
            ["to"] = to,
            ["windowSeconds"] = window,
            ["steps"] = new JsonArray(
                new JsonObject { ["event"] = "signup" },
                new JsonObject { ["event"] = "activate" },
                new JsonObject
                {
                    ["event"] = "purchase",
                    ["filters"] = new JsonArray(new JsonObject { ["dimension"] = "property.plan", ["op"] = "eq", ["values"] = new JsonArray("pro") }),
                }),
        };
        if (tz is not null) body["tz"] = tz;
        if (breakdown is not null) body["breakdown"] = breakdown;
        if (source is not null) body["source"] = source;
        return body;
    }

    private static string Utc(DateTimeOffset t) => t.ToString("yyyy-MM-ddTHH:mm:ssZ");

    private static JsonObject UtcDay(string? breakdown = null, string? source = null) => Funnel(Utc(D), Utc(D.AddDays(1)), breakdown: breakdown, source: source);

    [Fact]
    public async Task Counts_conversions_and_medians_follow_the_documented_rules()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var answer = await PostJsonAsync(api, UtcDay());

        Assert.Equal(3600, (long)answer["windowSeconds"]!);
        Assert.Null(answer["breakdowns"]);
        // Entered u1-u6 and u8; activated u1, u4, u5, u6, u8; bought (pro) u1 and u6.
        AssertSteps(answer["steps"]!,
            ("signup", 7, 1.0, 1.0, null, null),
            ("activate", 5, 5 / 7.0, 5 / 7.0, 1200, 1200), // gaps 0, 600, 1200, 2400, 3600
            ("purchase", 2, 2 / 7.0, 2 / 5.0, 1500, 2400)); // u1 1200/1800, u6 1800/3000: means of the middle two
    }

    [Fact]
    public async Task Breaks_down_by_the_first_entry_event_largest_first()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var answer = await PostJsonAsync(api, UtcDay(breakdown: "country"));

        Assert.Equal("country", (string)answer["breakdown"]!);
        AssertSteps(answer["steps"]!, ("signup", 7, 1.0, 1.0, null, null), ("activate", 5, 5 / 7.0, 5 / 7.0, 1200, 1200), ("purchase", 2, 2 / 7.0, 2 / 5.0, 1500, 2400));
        var groups = answer["breakdowns"]!.AsArray();
        Assert.Equal(["DE", "FR", "US"], groups.Select(g => (string)g!["value"]!));
        AssertSteps(groups[0]!["steps"]!, ("signup", 3, 1.0, 1.0, null, null), ("activate", 2, 2 / 3.0, 2 / 3.0, 300, 300), ("purchase", 1, 1 / 3.0, 0.5, 1200, 1800));
        // u2 counts under FR, its first entry's country, not US.
        AssertSteps(groups[1]!["steps"]!, ("signup", 2, 1.0, 1.0, null, null), ("activate", 1, 0.5, 0.5, 1200, 1200), ("purchase", 1, 0.5, 1.0, 1800, 3000));
        AssertSteps(groups[2]!["steps"]!, ("signup", 2, 1.0, 1.0, null, null), ("activate", 2, 1.0, 1.0, 3000, 3000), ("purchase", 0, 0.0, 0.0, null, null));
    }

    [Fact]
    public async Task Local_dates_bound_the_entry_in_the_query_time_zone()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var day = D.ToString("yyyy-MM-dd");
        // Asia/Tokyo (UTC+9): the local day is [D-9h, D+15h): u7 enters, u8 does not.
        var answer = await PostJsonAsync(api, Funnel(day, D.AddDays(1).ToString("yyyy-MM-dd"), tz: "Asia/Tokyo"));

        Assert.Equal(Utc(D.AddHours(-9)), Utc(DateTimeOffset.Parse((string)answer["from"]!)));
        AssertSteps(answer["steps"]!, ("signup", 7, 1.0, 1.0, null, null), ("activate", 4, 4 / 7.0, 4 / 7.0, 900, 900), ("purchase", 2, 2 / 7.0, 0.5, 1500, 2400));
    }

    [Fact]
    public async Task Raw_events_give_the_same_answer_as_the_default_source()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        foreach (var breakdown in new[] { null, "country" })
        {
            var byDefault = await PostJsonAsync(api, UtcDay(breakdown));
            var raw = await PostJsonAsync(api, UtcDay(breakdown, source: "raw"));
            Assert.Equal(["raw_events"], raw["sources"]!.AsArray().Select(s => (string)s!));
            Assert.Contains("stg_events", byDefault["sources"]!.AsArray().Select(s => (string)s!));
            Assert.Equal(byDefault["steps"]!.ToJsonString(), raw["steps"]!.ToJsonString());
            Assert.Equal(byDefault["breakdowns"]?.ToJsonString(), raw["breakdowns"]?.ToJsonString());
        }
    }

    [Fact]
    public async Task The_other_tenants_identical_ids_never_show()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        // A window and range wide enough for every foreign event: still only this tenant's actors.
        var answer = await PostJsonAsync(api, Funnel(Utc(D.AddDays(-1)), Utc(D.AddDays(2)), window: 86_400, breakdown: "country"));
        Assert.Equal(8, (long)answer["steps"]![0]!["count"]!); // u1-u8
        Assert.DoesNotContain(answer["breakdowns"]!.AsArray(), g => (long)g!["steps"]![2]!["count"]! > 2);
    }

    [Fact]
    public async Task Hostile_and_invalid_definitions_are_problems()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        JsonObject Valid() => UtcDay();

        var manySteps = Valid();
        manySteps["steps"] = new JsonArray(Enumerable.Range(0, 11).Select(i => (JsonNode)new JsonObject { ["event"] = $"e{i}" }).ToArray());
        var oneStep = Valid();
        oneStep["steps"] = new JsonArray(new JsonObject { ["event"] = "signup" });
        var emptyEvent = Valid();
        emptyEvent["steps"]![0]!["event"] = "";
        var longEvent = Valid();
        longEvent["steps"]![0]!["event"] = new string('a', 129);
        var badOp = Valid();
        badOp["steps"]![2]!["filters"]![0]!["op"] = "like";
        var badDimension = Valid();
        badDimension["steps"]![2]!["filters"]![0]!["dimension"] = "tenant_id";
        var noValues = Valid();
        noValues["steps"]![2]!["filters"]![0]!["values"] = new JsonArray();
        var unknownStepField = Valid();
        unknownStepField["steps"]![0]!["tenant"] = "other";
        var unknownField = Valid();
        unknownField["tenant_id"] = "other";
        var nullStep = Valid();
        nullStep["steps"]![1] = null;

        foreach (var (body, parameter) in new (JsonObject, string)[]
        {
            (manySteps, "steps"), (oneStep, "steps"), (emptyEvent, "steps[0].event"), (longEvent, "steps[0].event"),
            (badOp, "steps[2].filters"), (badDimension, "steps[2].filters"), (noValues, "steps[2].filters"),
            (unknownStepField, "body"), (unknownField, "body"), (nullStep, "steps[1]"),
            (Funnel(Utc(D), Utc(D.AddDays(1)), window: 0), "windowSeconds"),
            (Funnel(Utc(D), Utc(D.AddDays(1)), window: 90L * 86400 + 1), "windowSeconds"),
            (Funnel(Utc(D), Utc(D.AddDays(1)), breakdown: "x' OR 1=1 --"), "breakdown"),
            (Funnel(Utc(D), Utc(D.AddDays(1)), source: "bogus"), "source"),
            (Funnel(Utc(D), Utc(D.AddDays(1)), tz: "Mars/Olympus"), "tz"),
            (Funnel(Utc(D.AddDays(1)), Utc(D)), "from"),
            (Funnel("2020-01-01", "2026-01-01"), "from"),
            (Funnel("yesterday", Utc(D)), "from"),
        })
        {
            var problem = await PostProblemAsync(api, Http.Json(body.ToJsonString()), HttpStatusCode.BadRequest);
            Assert.Equal(parameter, (string)problem["parameter"]!);
        }

        await PostProblemAsync(api, Http.Json("{\"steps\": [", "application/json"), HttpStatusCode.BadRequest);
        await PostProblemAsync(api, Http.Json("[]"), HttpStatusCode.BadRequest);
        await PostProblemAsync(api, Http.Json("{\"windowSeconds\": \"3600 OR 1=1\"}"), HttpStatusCode.BadRequest);
        await PostProblemAsync(api, Http.Json(Valid().ToJsonString(), "text/plain"), HttpStatusCode.UnsupportedMediaType);
        var huge = Valid();
        huge["steps"]![2]!["filters"]![0]!["values"] = new JsonArray(Enumerable.Range(0, 100).Select(_ => (JsonNode)new string('x', 700)).ToArray());
        await PostProblemAsync(api, Http.Json(huge.ToJsonString()), HttpStatusCode.RequestEntityTooLarge);

        // Injection attempts where values are allowed are only values: nothing matches, nothing leaks.
        var injected = Valid();
        injected["steps"]![0]!["event"] = "signup' OR 1=1 --";
        Assert.Equal(0, (long)(await PostJsonAsync(api, injected))["steps"]![0]!["count"]!);
        var injectedFilter = Valid();
        injectedFilter["steps"]![2]!["filters"]![0]!["values"] = new JsonArray("pro') OR 1=1 --");
        Assert.Equal(0, (long)(await PostJsonAsync(api, injectedFilter))["steps"]![2]!["count"]!);
        var injectedProperty = Funnel(Utc(D), Utc(D.AddDays(1)), breakdown: "property.x') OR 1=1 --");
        var byProperty = await PostJsonAsync(api, injectedProperty);
        Assert.Equal([""], byProperty["breakdowns"]!.AsArray().Select(g => (string)g!["value"]!));
        Assert.Equal(7, (long)byProperty["breakdowns"]![0]!["steps"]![0]!["count"]!);
    }

    private static void AssertSteps(JsonNode steps, params (string Event, long Count, double FromFirst, double FromPrevious, double? MedianPrevious, double? MedianFirst)[] expected)
    {
        var actual = steps.AsArray();
        Assert.Equal(expected.Length, actual.Count);
        for (var i = 0; i < expected.Length; i++)
        {
            var step = actual[i]!;
            var e = expected[i];
            Assert.Equal(i + 1, (int)step["step"]!);
            Assert.Equal(e.Event, (string)step["event"]!);
            Assert.True(e.Count == (long)step["count"]!, $"step {i + 1}: count {step["count"]}, expected {e.Count}");
            Assert.Equal(e.FromFirst, (double)step["conversionFromFirst"]!, 9);
            Assert.Equal(e.FromPrevious, (double)step["conversionFromPrevious"]!, 9);
            Assert.True(e.MedianPrevious == (double?)step["medianSecondsFromPrevious"], $"step {i + 1}: median from previous {step["medianSecondsFromPrevious"]}, expected {e.MedianPrevious}");
            Assert.True(e.MedianFirst == (double?)step["medianSecondsFromFirst"], $"step {i + 1}: median from first {step["medianSecondsFromFirst"]}, expected {e.MedianFirst}");
        }
    }

    private static async Task<JsonObject> PostJsonAsync(HttpClient api, JsonObject body)
    {
        using var response = await api.PostAsync("/v1/funnels", Http.Json(body.ToJsonString()));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{body.ToJsonString()} answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private static async Task<JsonObject> PostProblemAsync(HttpClient api, HttpContent content, HttpStatusCode expected)
    {
        using (content)
        {
            var sent = await content.ReadAsStringAsync();
            using var response = await api.PostAsync("/v1/funnels", content);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == expected, $"{sent[..Math.Min(300, sent.Length)]} answered {(int)response.StatusCode}, not {(int)expected}: {text}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            return JsonNode.Parse(text)!.AsObject();
        }
    }
}
