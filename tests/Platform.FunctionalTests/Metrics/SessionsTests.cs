using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// /v1/sessions over sessions known by construction: a client session across UTC midnight, gap
/// sessions cut by the model's 30-minute rule (exactly 30 minutes stays in), an anonymous actor, a
/// long session, every event sent twice, and a second tenant with the same user and session ids.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class SessionsTests(MetricsPlatform platform)
{
    // Yesterday's UTC midnight: every event is in the past and within the Transformer's lookback.
    private static readonly DateTimeOffset D = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero).AddDays(-1);

    private static IEnumerable<JsonObject> TenantEvents()
    {
        // S1: client session across midnight, 1800 s, 3 events, DE mobile.
        yield return TestEvents.Track("view", "u1", D.AddMinutes(-10), sessionId: "s1", country: "DE", device: "mobile");
        yield return TestEvents.Track("click", "u1", D.AddMinutes(5), sessionId: "s1", country: "DE", device: "desktop");
        yield return TestEvents.Track("view", "u1", D.AddMinutes(20), sessionId: "s1", country: "FR", device: "mobile");
        // S2: gap session, a gap of exactly 1800 s stays in: 1840 s, 3 events, FR desktop.
        yield return TestEvents.Track("view", "u2", D.AddHours(1), country: "FR", device: "desktop");
        yield return TestEvents.Track("view", "u2", D.AddHours(1).AddMinutes(30), country: "FR", device: "desktop");
        yield return TestEvents.Track("view", "u2", D.AddHours(1).AddMinutes(30).AddSeconds(40), country: "FR", device: "desktop");
        // S3: more than 30 minutes later, a new session of one event: 0 s.
        yield return TestEvents.Track("view", "u2", D.AddHours(3), country: "FR", device: "desktop");
        // S4: client session of 45 s, 2 events, DE desktop.
        yield return TestEvents.Track("view", "u1", D.AddHours(5), sessionId: "s4", country: "DE", device: "desktop");
        yield return TestEvents.Track("buy", "u1", D.AddHours(5).AddSeconds(45), sessionId: "s4", country: "DE", device: "desktop");
        // S5: an anonymous actor's gap session: 5 s, 2 events, US mobile.
        yield return TestEvents.Track("view", "", D.AddHours(6), anonymousId: "a9", country: "US", device: "mobile");
        yield return TestEvents.Track("view", "", D.AddHours(6).AddSeconds(5), anonymousId: "a9", country: "US", device: "mobile");
        // S6: a client session of two hours, 2 events, DE mobile.
        yield return TestEvents.Track("view", "u3", D.AddHours(7), sessionId: "s6", country: "DE", device: "mobile");
        yield return TestEvents.Track("view", "u3", D.AddHours(9), sessionId: "s6", country: "DE", device: "mobile");
    }

    /// <summary>The same user and session ids in another tenant: none of it may show up.</summary>
    private static IEnumerable<JsonObject> ForeignEvents()
    {
        yield return TestEvents.Track("view", "u1", D.AddMinutes(-5), sessionId: "s1", country: "DE", device: "mobile");
        yield return TestEvents.Track("view", "u1", D.AddHours(4), sessionId: "s1", country: "DE", device: "mobile");
        yield return TestEvents.Track("view", "u2", D.AddHours(2), country: "ZZ", device: "tv");
        yield return TestEvents.Track("view", "u2", D.AddHours(2).AddSeconds(3), country: "ZZ", device: "tv");
    }

    private async Task<(TestTenant Tenant, HttpClient Api)> ArrangeAsync()
    {
        var tenant = await platform.CreateTenantAsync();
        var foreign = await platform.CreateTenantAsync();
        var events = TenantEvents().ToList();
        await platform.SendAsync(tenant, events);
        await platform.SendAsync(tenant, events); // every event a second time: copies fold
        await platform.SendAsync(foreign, ForeignEvents());
        await platform.WaitForStoredAsync(tenant, events.Count);
        await platform.WaitForStoredAsync(foreign, 4);
        var after = DateTimeOffset.UtcNow;
        await platform.WaitForModelsAsync(after);

        // The sessions model must have read a staging build that started after everything was stored.
        var api = platform.Api(tenant.ReadKey);
        var path = $"/v1/sessions?from={Iso(D.AddHours(-1))}&to={Iso(D.AddDays(1))}";
        var fresh = await Eventually.MatchesAsync(
            async () => (await MetricsPlatform.GetJsonAsync(api, path))["asOf"]?.GetValue<DateTimeOffset>(),
            asOf => asOf >= after, TimeSpan.FromSeconds(120));
        Assert.True(fresh >= after, $"sessions model as of {fresh:O}, not after {after:O}");
        return (tenant, api);
    }

    [Fact]
    public async Task Sessions_statistics_histogram_breakdowns_and_time_zone_are_exact()
    {
        var (_, api) = await ArrangeAsync();

        var all = await MetricsPlatform.GetJsonAsync(api, $"/v1/sessions?from={Iso(D.AddHours(-1))}&to={Iso(D.AddDays(1))}");
        // Durations 0, 5, 45, 1800, 1840, 7200; events 1, 2, 3, 3, 2, 2.
        AssertStats(all, count: 6, median: 922.5, p95: 7200, eventsPerSession: 13.0 / 6, bins: [2, 0, 1, 0, 0, 0, 2, 1]);
        var histogram = all["histogram"]!.AsArray();
        Assert.Equal(0, histogram[0]!["fromSeconds"]!.GetValue<long>());
        Assert.Equal(10, histogram[0]!["toSeconds"]!.GetValue<long>());
        Assert.Equal(3600, histogram[7]!["fromSeconds"]!.GetValue<long>());
        Assert.Null(histogram[7]!["toSeconds"]);
        Assert.Null(all["values"]);

        // Sessionized from events at query time, the same sessions: the days the model holds are read from it, the rest from events.
        foreach (var source in new[] { "events", "raw" })
        {
            var computed = await MetricsPlatform.GetJsonAsync(api, $"/v1/sessions?from={Iso(D.AddHours(-1))}&to={Iso(D.AddDays(1))}&source={source}");
            AssertStats(computed, count: 6, median: 922.5, p95: 7200, eventsPerSession: 13.0 / 6, bins: [2, 0, 1, 0, 0, 0, 2, 1]);
            Assert.DoesNotContain("sessions", computed["sources"]!.AsArray().Select(s => s!.GetValue<string>()));
        }

        // A session belongs to when it started: the UTC day D leaves out S1 (started 23:50 the day before).
        var utcDay = await MetricsPlatform.GetJsonAsync(api, $"/v1/sessions?from={Day(D)}&to={Day(D.AddDays(1))}&tz=UTC");
        AssertStats(utcDay, count: 5, median: 45, p95: 7200, eventsPerSession: 10.0 / 5, bins: [2, 0, 1, 0, 0, 0, 1, 1]);

        // In Berlin the same date starts an hour or two earlier, so S1 is in it.
        var berlin = await MetricsPlatform.GetJsonAsync(api, $"/v1/sessions?from={Day(D)}&to={Day(D.AddDays(1))}&tz=Europe/Berlin");
        Assert.Equal("Europe/Berlin", berlin["timeZone"]!.GetValue<string>());
        AssertStats(berlin, count: 6, median: 922.5, p95: 7200, eventsPerSession: 13.0 / 6, bins: [2, 0, 1, 0, 0, 0, 2, 1]);

        var byCountry = await MetricsPlatform.GetJsonAsync(api, $"/v1/sessions?from={Iso(D.AddHours(-1))}&to={Iso(D.AddDays(1))}&breakdown=country");
        Assert.Equal("country", byCountry["breakdown"]!.GetValue<string>());
        Assert.Equal(6, byCountry["count"]!.GetValue<long>());
        var countries = byCountry["values"]!.AsArray();
        Assert.Equal(["DE", "FR", "US"], countries.Select(v => v!["value"]!.GetValue<string>()));
        AssertStats(countries[0]!.AsObject(), count: 3, median: 1800, p95: 7200, eventsPerSession: 7.0 / 3, bins: [0, 0, 1, 0, 0, 0, 1, 1]);
        AssertStats(countries[1]!.AsObject(), count: 2, median: 920, p95: 1840, eventsPerSession: 2, bins: [1, 0, 0, 0, 0, 0, 1, 0]);
        AssertStats(countries[2]!.AsObject(), count: 1, median: 5, p95: 5, eventsPerSession: 2, bins: [1, 0, 0, 0, 0, 0, 0, 0]);

        // Device of the session's first event: S1 is mobile although its second event is desktop.
        var byDevice = await MetricsPlatform.GetJsonAsync(api, $"/v1/sessions?from={Iso(D.AddHours(-1))}&to={Iso(D.AddDays(1))}&breakdown=device");
        var devices = byDevice["values"]!.AsArray();
        Assert.Equal(["desktop", "mobile"], devices.Select(v => v!["value"]!.GetValue<string>()));
        AssertStats(devices[0]!.AsObject(), count: 3, median: 45, p95: 1840, eventsPerSession: 2, bins: [1, 0, 1, 0, 0, 0, 1, 0]);
        AssertStats(devices[1]!.AsObject(), count: 3, median: 1800, p95: 7200, eventsPerSession: 7.0 / 3, bins: [1, 0, 0, 0, 0, 0, 1, 1]);

        // A range with no sessions answers zeros, not an error.
        var empty = await MetricsPlatform.GetJsonAsync(api, $"/v1/sessions?from={Iso(D.AddDays(-30))}&to={Iso(D.AddDays(-29))}");
        AssertStats(empty, count: 0, median: 0, p95: 0, eventsPerSession: 0, bins: [0, 0, 0, 0, 0, 0, 0, 0]);
    }

    [Fact]
    public async Task Hostile_or_unsupported_inputs_are_400_problems()
    {
        var tenant = await platform.CreateTenantAsync();
        var api = platform.Api(tenant.ReadKey);
        foreach (var (query, parameter) in new[]
        {
            ("breakdown=os", "breakdown"),
            ("breakdown=country'%20OR%201%3D1%20--", "breakdown"),
            ("breakdown=property.plan", "breakdown"),
            ("source=x'%20OR%201%3D1%20--", "source"),
            ("tz=Mars%2FOlympus", "tz"),
            ("tz=UTC'%20OR%201%3D1%20--", "tz"),
            ("from=x'%20OR%201%3D1%20--", "from"),
            ("from=2026-01-02&to=2026-01-01", "from"),
            ("from=2000-01-01&to=2030-01-01", "from"),
            ("to=9999-01-01", "to"),
        })
        {
            var problem = await MetricsPlatform.GetProblemAsync(api, $"/v1/sessions?{query}");
            Assert.Equal(parameter, problem["parameter"]?.GetValue<string>());
        }
    }

    private static void AssertStats(JsonObject stats, long count, double median, long p95, double eventsPerSession, long[] bins)
    {
        Assert.Equal(count, stats["count"]!.GetValue<long>());
        Assert.Equal(median, stats["medianSeconds"]!.GetValue<double>(), 6);
        Assert.Equal(p95, stats["p95Seconds"]!.GetValue<long>());
        Assert.Equal(eventsPerSession, stats["eventsPerSession"]!.GetValue<double>(), 6);
        Assert.Equal(bins, stats["histogram"]!.AsArray().Select(b => b!["sessions"]!.GetValue<long>()));
    }

    private static string Iso(DateTimeOffset t) => Uri.EscapeDataString(t.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ"));

    private static string Day(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd");
}
