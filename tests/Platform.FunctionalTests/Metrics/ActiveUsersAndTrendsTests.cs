using System.Globalization;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// DAU/WAU/MAU and event trends compared with answers computed independently from the generated
/// events: duplicates and a resend across midnight count once, days imported late and days the
/// rollups hold give the same numbers, a tenant with the same user ids and event names is never
/// counted, and a time zone moves events to their local day.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class ActiveUsersAndTrendsTests(MetricsPlatform platform)
{
    private static readonly DateTimeOffset Today = new(DateTime.UtcNow.Date, TimeSpan.Zero);

    private sealed record Sent(string Id, string Name, string User, DateTimeOffset Time, string? Country);

    [Fact]
    public async Task RecentDaysAreExactFromEventsAndFromTheRollupsOnceBuilt()
    {
        var recent = await platform.CreateTenantAsync();
        var other = await platform.CreateTenantAsync();
        var events = RecentDataset();
        await SendAsync(recent, events);
        // The other tenant: same users and names, many more events, on the same days.
        await SendAsync(other, Enumerable.Range(0, 60).Select(i => new Sent($"x{i}", i % 2 == 0 ? "open" : "click", $"r{i % 9}", Day(-1 - i % 2, 6 + i % 12), "DE")).ToList());
        await platform.WaitForStoredAsync(recent, events.Select(e => e.Id).Distinct().Count());
        await platform.WaitForStoredAsync(other, 60);
        var storedAt = DateTimeOffset.UtcNow;
        using var api = platform.Api(recent.ReadKey);
        var query = $"from={Date(-3)}&to={Date(0)}";

        await AssertActiveUsersAsync(api, $"/v1/active-users?{query}&source=raw", events, -3, -1, "UTC");
        await AssertTrendsAsync(api, $"/v1/trends?{query}&source=raw&event=open&event=click", events, "UTC");

        // Once builds have read the events (a chain of builds started after they were stored), the rollups answer.
        await platform.WaitForModelsAsync(storedAt);
        static bool Reads(JsonObject answer, string table) => answer["sources"]!.AsArray().Any(s => (string)s! == table);
        var fromRollup = await Eventually.MatchesAsync(() => MetricsPlatform.GetJsonAsync(api, $"/v1/active-users?{query}"), a => Reads(a, "active_users"), TimeSpan.FromSeconds(90));
        Assert.True(Reads(fromRollup, "active_users"), fromRollup.ToJsonString());
        await Eventually.MatchesAsync(() => MetricsPlatform.GetJsonAsync(api, $"/v1/trends?{query}"), a => Reads(a, "rollup_event_names_daily"), TimeSpan.FromSeconds(30));
        await AssertActiveUsersAsync(api, $"/v1/active-users?{query}", events, -3, -1, "UTC");
        var trends = await AssertTrendsAsync(api, $"/v1/trends?{query}&event=open&event=click", events, "UTC");
        Assert.True(Reads(trends, "rollup_event_names_daily"), trends.ToJsonString());
        var usersByDay = await AssertTrendsAsync(api, $"/v1/trends?{query}&event=open&event=click&measure=users", events, "UTC", users: true);
        Assert.True(Reads(usersByDay, "rollup_event_names_daily"), usersByDay.ToJsonString());

        // The users of all events come from each day's active actors.
        var allUsersByDay = await AssertTrendsAsync(api, $"/v1/trends?{query}&measure=users", events, "UTC", users: true);
        Assert.True(Reads(allUsersByDay, "rollup_active_users_daily"), allUsersByDay.ToJsonString());
        // Built days without a row of this tenant's: no series, as from events.
        var quietDays = await MetricsPlatform.GetJsonAsync(api, $"/v1/trends?from={Date(-30)}&to={Date(-20)}&measure=users");
        Assert.True(Reads(quietDays, "rollup_active_users_daily"), quietDays.ToJsonString());
        Assert.Empty(quietDays["series"]!.AsArray());

        // Unique users per week merge rollup sets and event sets: a user on both sides counts once.
        var weekly = await MetricsPlatform.GetJsonAsync(api, $"/v1/trends?from={Date(-3)}&to={DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}&measure=users&interval=week");
        var series = Assert.Single(weekly["series"]!.AsArray());
        Assert.Equal(Dedupe(events).Select(e => e.User).Distinct().Count(), (long)series!["total"]!);
        Assert.True(Reads(weekly, "rollup_active_users_daily"), weekly.ToJsonString());
        var weeklyNamed = await MetricsPlatform.GetJsonAsync(api, $"/v1/trends?from={Date(-3)}&to={DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ}&measure=users&interval=week&event=open");
        Assert.Equal(Dedupe(events).Where(e => e.Name == "open").Select(e => e.User).Distinct().Count(), (long)Assert.Single(weeklyNamed["series"]!.AsArray())!["total"]!);
        Assert.True(Reads(weeklyNamed, "rollup_event_names_daily"), weeklyNamed.ToJsonString());

        // Asia/Tokyo: 20:00 UTC is 05:00 the next local day.
        await AssertActiveUsersAsync(api, $"/v1/active-users?{query}&tz=Asia/Tokyo", events, -3, -1, "Asia/Tokyo");
        await AssertTrendsAsync(api, $"/v1/trends?{query}&tz=Asia/Tokyo&event=open&event=click", events, "Asia/Tokyo");

        // Breakdown by country (events without one fall under "").
        var byCountry = await MetricsPlatform.GetJsonAsync(api, $"/v1/trends?{query}&event=open&breakdown=country");
        var expectedByCountry = Dedupe(events).Where(e => e.Name == "open").GroupBy(e => e.Country ?? "").ToDictionary(g => g.Key, g => (long)g.Count());
        Assert.Equal(expectedByCountry.OrderBy(p => p.Key), byCountry["series"]!.AsArray().ToDictionary(s => (string)s!["breakdown"]!, s => (long)s!["total"]!).OrderBy(p => p.Key));
        Assert.True(Reads(byCountry, "rollup_events_daily"), byCountry.ToJsonString());
        var usersByCountry = await MetricsPlatform.GetJsonAsync(api, $"/v1/trends?{query}&breakdown=country&measure=users");
        var expectedUsersByCountry = Dedupe(events).GroupBy(e => e.Country ?? "").ToDictionary(g => g.Key, g => (long)g.Select(e => e.User).Distinct().Count());
        Assert.Equal(expectedUsersByCountry.OrderBy(p => p.Key), usersByCountry["series"]!.AsArray().ToDictionary(s => (string)s!["breakdown"]!, s => (long)s!["total"]!).OrderBy(p => p.Key));
    }

    [Fact]
    public async Task DaysImportedLateAnswerTheSameFromEveryPath()
    {
        var tenant = await platform.CreateTenantAsync();
        var events = new List<Sent>();
        var users = new[] { "l1", "l2", "l3", "l4", "l5" };
        var days = new[] { -40, -31, -20, -12, -9, -6, -2, -1 };
        var n = 0;
        foreach (var day in days)
        {
            foreach (var (user, i) in users.Select((u, i) => (u, i)).Where(p => (p.i + day) % 3 != 0))
            {
                events.Add(new Sent($"l{n++}", "open", user, Day(day, 3 + 2 * i), i % 2 == 0 ? "US" : "JP"));
            }
        }

        events.Add(events[3] with { });
        await SendAsync(tenant, events);
        await platform.WaitForStoredAsync(tenant, events.Select(e => e.Id).Distinct().Count());
        await platform.WaitForModelsAsync(DateTimeOffset.UtcNow);
        using var api = platform.Api(tenant.ReadKey);
        var query = $"from={Date(-35)}&to={Date(0)}";

        await AssertActiveUsersAsync(api, $"/v1/active-users?{query}", events, -35, -1, "UTC");
        await AssertActiveUsersAsync(api, $"/v1/active-users?{query}&source=raw", events, -35, -1, "UTC");
        await AssertActiveUsersAsync(api, $"/v1/active-users?{query}&tz=America/Los_Angeles", events, -35, -1, "America/Los_Angeles");
        await AssertTrendsAsync(api, $"/v1/trends?{query}&event=open", events, "UTC");
        await AssertTrendsAsync(api, $"/v1/trends?{query}&event=open&source=raw", events, "UTC");
    }

    [Fact]
    public async Task PropertyBreakdownsAndFiltersHoldAcrossStagedAndRawDays()
    {
        var tenant = await platform.CreateTenantAsync();
        var now = DateTimeOffset.UtcNow;
        JsonObject Plan(string plan) => new() { ["plan"] = plan };
        var events = new[]
        {
            TestEvents.Track("open", "p1", Day(-1, 10), "p-1", country: "DE", properties: Plan("pro")),
            TestEvents.Track("open", "p2", Day(-1, 11), "p-2", country: "FR", properties: Plan("free")),
            TestEvents.Track("open", "p3", now.AddMinutes(-2) < Today ? Day(-1, 12) : now.AddMinutes(-2), "p-3", country: "US", properties: Plan("pro")),
        };
        await platform.SendAsync(tenant, events);
        await platform.WaitForStoredAsync(tenant, 3);
        // Yesterday is staged once a build starts past the Api's 10 s margin; today stays raw.
        await platform.WaitForModelsAsync(DateTimeOffset.UtcNow.AddSeconds(12));
        using var api = platform.Api(tenant.ReadKey);
        var path = $"/v1/trends?event=open&from={Date(-1)}&breakdown=property.plan";
        var answer = await Eventually.MatchesAsync(() => MetricsPlatform.GetJsonAsync(api, path),
            a => a["sources"]!.AsArray().Any(t => (string)t! == "stg_events"), TimeSpan.FromSeconds(30));

        Assert.Contains("stg_events", answer["sources"]!.AsArray().Select(t => (string)t!));
        Assert.Equal(new Dictionary<string, long> { ["pro"] = 2, ["free"] = 1 },
            answer["series"]!.AsArray().ToDictionary(x => (string)x!["breakdown"]!, x => (long)x!["total"]!));
        var filtered = await MetricsPlatform.GetJsonAsync(api, $"/v1/trends?event=open&from={Date(-1)}&filter=property.plan:eq:pro&breakdown=country");
        Assert.Equal(new Dictionary<string, long> { ["DE"] = 1, ["US"] = 1 },
            filtered["series"]!.AsArray().ToDictionary(x => (string)x!["breakdown"]!, x => (long)x!["total"]!));
    }

    /// <summary>Six users over two days, with a duplicate, a resend across midnight and late-evening events.</summary>
    private static List<Sent> RecentDataset() =>
    [
        new("a1", "open", "r1", Day(-2, 9), "DE"),
        new("a1", "open", "r1", Day(-2, 9), "DE"),
        new("a2", "click", "r1", Day(-2, 10), "DE"),
        new("a3", "open", "r2", Day(-2, 11), "FR"),
        new("a4", "open", "r3", Day(-2, 20), "US"),
        new("a5", "open", "r4", Day(-2, 23.5), "DE"),
        new("a6", "click", "r3", Day(-2, 23 + 59.5 / 60), "US"),
        new("a6", "click", "r3", Day(-1, 0.5 / 60), "US"),
        new("b1", "open", "r1", Day(-1, 8), "DE"),
        new("b2", "click", "r2", Day(-1, 12), "FR"),
        new("b2", "click", "r2", Day(-1, 12), "FR"),
        new("b3", "open", "r5", Day(-1, 13), "US"),
        new("b4", "open", "r6", Day(-1, 22), null),
        new("b5", "open", "r4", Day(-1, 0.2), "DE"),
    ];

    /// <summary>One row per id: the copy with the earliest time (the documented rule).</summary>
    private static List<Sent> Dedupe(IEnumerable<Sent> events) => events.GroupBy(e => e.Id).Select(g => g.OrderBy(e => e.Time).First()).ToList();

    private static DateOnly LocalDay(DateTimeOffset time, string zone) =>
        DateOnly.FromDateTime(zone == "UTC" ? time.UtcDateTime : TimeZoneInfo.ConvertTime(time, TimeZoneInfo.FindSystemTimeZoneById(zone)).DateTime);

    private static async Task<JsonObject> AssertActiveUsersAsync(HttpClient api, string path, List<Sent> events, int firstDay, int lastDay, string zone)
    {
        var answer = await MetricsPlatform.GetJsonAsync(api, path);
        var active = Dedupe(events).Select(e => (Day: LocalDay(e.Time, zone), e.User)).Distinct().ToList();
        var days = Assert.Single(answer["series"]!.AsArray())!["days"]!.AsArray();
        var expected = new List<string>();
        for (var d = firstDay; d <= lastDay; d++)
        {
            var day = DateOnly.FromDateTime(Today.AddDays(d).UtcDateTime);
            int Users(int span) => active.Where(a => a.Day <= day && a.Day > day.AddDays(-span)).Select(a => a.User).Distinct().Count();
            expected.Add($"{day:yyyy-MM-dd} {Users(1)} {Users(7)} {Users(30)}");
        }

        Assert.Equal(expected, days.Select(x => $"{(string)x!["date"]!} {(long)x["dau"]!} {(long)x["wau"]!} {(long)x["mau"]!}"));
        return answer;
    }

    private static async Task<JsonObject> AssertTrendsAsync(HttpClient api, string path, List<Sent> events, string zone, bool users = false)
    {
        var answer = await MetricsPlatform.GetJsonAsync(api, path);
        var from = DateTimeOffset.Parse((string)answer["from"]!, CultureInfo.InvariantCulture);
        var to = DateTimeOffset.Parse((string)answer["to"]!, CultureInfo.InvariantCulture);
        var deduped = Dedupe(events).Where(e => e.Time >= from && e.Time < to).ToList();
        foreach (var series in answer["series"]!.AsArray())
        {
            var name = (string?)series!["event"];
            var named = name is null ? deduped : deduped.Where(e => e.Name == name).ToList();
            var expected = named.GroupBy(e => LocalDay(e.Time, zone)).ToDictionary(g => g.Key, g => (long)(users ? g.Select(e => e.User).Distinct().Count() : g.Count()));
            var actual = series["points"]!.AsArray()
                .Select(p => (Day: LocalDay(DateTimeOffset.Parse((string)p!["time"]!, CultureInfo.InvariantCulture), zone), Value: (long)p["value"]!))
                .Where(p => p.Value != 0).ToDictionary(p => p.Day, p => p.Value);
            Assert.Equal(expected.OrderBy(p => p.Key), actual.OrderBy(p => p.Key));
            Assert.Equal(users ? named.Select(e => e.User).Distinct().Count() : expected.Values.Sum(), (long)series["total"]!);
        }

        return answer;
    }

    private Task SendAsync(TestTenant tenant, List<Sent> events) =>
        platform.SendAsync(tenant, events.Select(e => TestEvents.Track(e.Name, e.User, e.Time, e.Id, country: e.Country)));

    private static DateTimeOffset Day(int day, double hour) => Today.AddDays(day).AddHours(hour);

    private static string Date(int day) => Today.AddDays(day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
