using Platform.Testing;
using System.Text.Json.Nodes;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// GET /v1/retention over a dataset whose cohorts are known by construction: signups (cohort event)
/// and opens (return event) around a Monday two to three weeks ago, answered in UTC and in Asia/Tokyo
/// (UTC+9, where some local days differ from the UTC ones). A second tenant has the same actor ids and
/// event names and must never show.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class RetentionTests(MetricsPlatform platform)
{
    private static readonly SemaphoreSlim SetupLock = new(1, 1);
    private static TestTenant? _tenant;

    /// <summary>A Monday (UTC midnight) 14-20 days ago: every period of every cohort below has started.</summary>
    private static readonly DateTimeOffset D0 = MondayOnOrBefore(DateTime.UtcNow.Date.AddDays(-14));

    private static DateTimeOffset MondayOnOrBefore(DateTime day) => new(day.AddDays(-(((int)day.DayOfWeek + 6) % 7)), TimeSpan.Zero);

    private static IEnumerable<JsonObject> Events(bool foreign)
    {
        JsonObject E(string name, string user, double hours, string? id = null) =>
            TestEvents.Track(name, user, D0.AddHours(hours), id: id is null ? null : (foreign ? "f-" : "") + id);

        if (foreign)
        {
            // Same actors and names in another tenant: all sign up on day 0 and open every day.
            foreach (var user in new[] { "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "x1" })
            {
                yield return E("signup", user, 5);
                for (var day = 0; day < 8; day++)
                {
                    yield return E("open", user, 24 * day + 6);
                }
            }

            yield break;
        }

        // r1: cohort day 0 (UTC and Tokyo); opens on days 0, 1 (twice) and 3.
        yield return E("signup", "r1", 10);
        yield return E("open", "r1", 12);
        yield return E("open", "r1", 24 + 5);
        yield return E("open", "r1", 24 + 6);
        yield return E("open", "r1", 72 + 1);
        // r2: day 0 at 20:00 UTC is day 1 at 05:00 in Tokyo; opens on UTC day 2.
        yield return E("signup", "r2", 20);
        yield return E("open", "r2", 48 + 1);
        // r3: first signed up 100 days before: never in a cohort of the range.
        yield return E("signup", "r3", -2400);
        yield return E("signup", "r3", 24 + 1);
        yield return E("open", "r3", 24 + 2);
        // r4: the signup and an open each sent twice with one id; opens on UTC days 1 and 2 (23:59; day 3 in Tokyo).
        yield return E("signup", "r4", 24 + 3, id: "r4-signup");
        yield return E("signup", "r4", 24 + 3, id: "r4-signup");
        yield return E("open", "r4", 24 + 3, id: "r4-open");
        yield return E("open", "r4", 24 + 3, id: "r4-open");
        yield return E("open", "r4", 48 + 23 + 59 / 60.0);
        // r5: signs up at 23:30 UTC on day 2 (day 3 in Tokyo, past the range), opens 00:30 UTC day 3.
        yield return E("signup", "r5", 48 + 23.5);
        yield return E("open", "r5", 72 + 0.5);
        // r6: never comes back.
        yield return E("signup", "r6", 24 + 8);
        // r7: opens without ever signing up.
        yield return E("open", "r7", 24);
        // r8: signs up at 'to' of the three-day range (inside the week).
        yield return E("signup", "r8", 72);
        // r9: 19:00 UTC the day before day 0 (before the UTC range) is day 0 04:00 in Tokyo; opens on day 0.
        yield return E("signup", "r9", -5);
        yield return E("open", "r9", 1);
    }

    private async Task<TestTenant> TenantAsync()
    {
        await SetupLock.WaitAsync();
        try
        {
            if (_tenant is not null)
            {
                return _tenant;
            }

            var tenant = await platform.CreateTenantAsync();
            var foreign = await platform.CreateTenantAsync();
            var events = Events(false).ToList();
            var foreignEvents = Events(true).ToList();
            await platform.SendAsync(tenant, events);
            await platform.SendAsync(foreign, foreignEvents);
            await platform.WaitForStoredAsync(tenant, events.Select(e => (string)e["event_id"]!).Distinct().Count());
            await platform.WaitForStoredAsync(foreign, foreignEvents.Count);
            return _tenant = tenant;
        }
        finally
        {
            SetupLock.Release();
        }
    }

    private static string Day(int offset) => D0.AddDays(offset).ToString("yyyy-MM-dd");

    private static string Query(string extra = "", int days = 3) =>
        $"/v1/retention?cohort_event=signup&return_event=open&from={Day(0)}&to={Day(days)}&periods=4{extra}";

    [Fact]
    public async Task Daily_cohorts_in_utc()
    {
        using var api = platform.Api((await TenantAsync()).ReadKey);
        var answer = await MetricsPlatform.GetJsonAsync(api, Query("&tz=UTC"));

        Assert.Equal(365, (int)answer["historyDays"]!);
        AssertCohorts(answer,
            (Day(0), 2, [1, 1, 1, 1]), // r1 {0, 1, 3}, r2 {2}
            (Day(1), 2, [1, 1, 0, 0]), // r4 {0, 1}, r6 {}; r3 signed up long before
            (Day(2), 1, [0, 1, 0, 0])); // r5 {1}
        Assert.Equal(50.0, (double)answer["cohorts"]![0]!["periods"]![0]!["percentage"]!);
        Assert.Equal(100.0, (double)answer["cohorts"]![2]!["periods"]![1]!["percentage"]!);
    }

    [Fact]
    public async Task Local_days_in_a_time_zone_ahead_of_utc()
    {
        using var api = platform.Api((await TenantAsync()).ReadKey);
        var answer = await MetricsPlatform.GetJsonAsync(api, Query("&tz=Asia/Tokyo"));

        AssertCohorts(answer,
            (Day(0), 2, [2, 1, 0, 1]), // r1 {0, 1, 3}, r9 {0}
            (Day(1), 3, [1, 1, 1, 0]), // r2 {1}, r4 {0, 2}, r6 {}
            (Day(2), 0, [0, 0, 0, 0])); // r5 signs up on local day 3
    }

    [Fact]
    public async Task Weekly_cohorts_start_on_monday()
    {
        using var api = platform.Api((await TenantAsync()).ReadKey);
        var answer = await MetricsPlatform.GetJsonAsync(api, Query("&tz=UTC&grain=week", days: 7).Replace("periods=4", "periods=2"));

        // r1, r2, r4, r5, r6, r8; opened in the week: r1, r2, r4, r5.
        AssertCohorts(answer, (Day(0), 6, [4, 0]));
        Assert.Equal(400 / 6.0, (double)answer["cohorts"]![0]!["periods"]![0]!["percentage"]!, 9);
    }

    [Fact]
    public async Task Any_event_is_the_default_cohort_and_return_event()
    {
        using var api = platform.Api((await TenantAsync()).ReadKey);
        var answer = await MetricsPlatform.GetJsonAsync(api, $"/v1/retention?from={Day(0)}&to={Day(3)}&periods=4&tz=UTC");

        // First events: r1, r2, r4, r5, r6 as before, r7 on day 1 (its open); r3 and r9 are older.
        AssertCohorts(answer,
            (Day(0), 2, [2, 1, 1, 1]),
            (Day(1), 3, [3, 1, 0, 0]), // r4 {0, 1}, r6 {0}, r7 {0}
            (Day(2), 1, [1, 1, 0, 0])); // r5 {0, 1}
    }

    [Fact]
    public async Task First_seen_cohorts_are_read_from_the_actor_first_seen_model_once_it_is_built()
    {
        using var api = platform.Api((await TenantAsync()).ReadKey);
        await platform.WaitForModelsAsync(DateTimeOffset.UtcNow);
        var query = $"/v1/retention?from={Day(0)}&to={Day(3)}&periods=4";
        var answer = await Eventually.MatchesAsync(() => MetricsPlatform.GetJsonAsync(api, query + "&tz=UTC"),
            a => a["sources"]!.AsArray().Any(s => (string?)s == "actor_first_seen"), TimeSpan.FromSeconds(90));
        Assert.Contains("actor_first_seen", answer["sources"]!.AsArray().Select(s => (string?)s));

        AssertCohorts(answer,
            (Day(0), 2, [2, 1, 1, 1]),
            (Day(1), 3, [3, 1, 0, 0]),
            (Day(2), 1, [1, 1, 0, 0]));
        foreach (var extra in new[] { "&tz=Asia/Tokyo", "&tz=UTC&grain=week", "&tz=America/Los_Angeles&return_event=open" })
        {
            var byModel = await MetricsPlatform.GetJsonAsync(api, query + extra);
            var raw = await MetricsPlatform.GetJsonAsync(api, query + extra + "&source=raw");
            Assert.Contains("actor_first_seen", byModel["sources"]!.AsArray().Select(s => (string?)s));
            Assert.Equal(raw["cohorts"]!.ToJsonString(), byModel["cohorts"]!.ToJsonString());
        }
    }

    [Fact]
    public async Task Raw_events_give_the_same_answer_as_the_default_source()
    {
        using var api = platform.Api((await TenantAsync()).ReadKey);
        foreach (var extra in new[] { "&tz=UTC", "&tz=Asia/Tokyo", "&tz=UTC&grain=week" })
        {
            var byDefault = await MetricsPlatform.GetJsonAsync(api, Query(extra));
            var raw = await MetricsPlatform.GetJsonAsync(api, Query(extra + "&source=raw"));
            Assert.Equal(byDefault["cohorts"]!.ToJsonString(), raw["cohorts"]!.ToJsonString());
        }
    }

    [Fact]
    public async Task Periods_that_have_not_started_are_left_out()
    {
        using var api = platform.Api((await TenantAsync()).ReadKey);
        var today = DateTime.UtcNow.Date;
        var answer = await MetricsPlatform.GetJsonAsync(api,
            $"/v1/retention?from={today.AddDays(-1):yyyy-MM-dd}&to={today.AddDays(1):yyyy-MM-dd}&periods=8&tz=UTC");

        var cohorts = answer["cohorts"]!.AsArray();
        Assert.Equal(2, cohorts.Count);
        Assert.Equal([0, 1], cohorts[0]!["periods"]!.AsArray().Select(p => (int)p!["period"]!));
        Assert.Equal([0], cohorts[1]!["periods"]!.AsArray().Select(p => (int)p!["period"]!));
    }

    [Fact]
    public async Task Hostile_and_invalid_parameters_are_problems()
    {
        using var api = platform.Api((await TenantAsync()).ReadKey);
        foreach (var (query, parameter) in new[]
        {
            (Query("&grain=month"), "grain"),
            (Query("&grain=day' OR 1=1 --"), "grain"),
            (Query().Replace("periods=4", "periods=0"), "periods"),
            (Query().Replace("periods=4", "periods=91"), "periods"),
            (Query().Replace("periods=4", "periods=1e3"), "periods"),
            (Query().Replace("periods=4", "periods=-1"), "periods"),
            (Query("&tz=Mars/Olympus"), "tz"),
            (Query("&source=bogus"), "source"),
            ($"/v1/retention?from={Day(3)}&to={Day(0)}", "from"),
            ("/v1/retention?from=1999-01-01&to=2030-01-01", "from"),
            ($"/v1/retention?cohort_event={new string('a', 129)}&from={Day(0)}&to={Day(3)}", "cohort_event"),
            ($"/v1/retention?return_event=%01&from={Day(0)}&to={Day(3)}", "return_event"),
        })
        {
            var problem = await MetricsPlatform.GetProblemAsync(api, query);
            Assert.Equal(parameter, (string)problem["parameter"]!);
        }

        // Injection where values are allowed stays a value: no cohort, nothing foreign.
        var injected = await MetricsPlatform.GetJsonAsync(api,
            $"/v1/retention?cohort_event={Uri.EscapeDataString("signup' OR 1=1 --")}&from={Day(0)}&to={Day(3)}&tz=UTC");
        Assert.All(injected["cohorts"]!.AsArray(), c => Assert.Equal(0, (long)c!["size"]!));
    }

    private static void AssertCohorts(JsonObject answer, params (string Cohort, long Size, long[] Users)[] expected)
    {
        var cohorts = answer["cohorts"]!.AsArray();
        Assert.Equal(expected.Select(e => e.Cohort), cohorts.Select(c => (string)c!["cohort"]!));
        for (var i = 0; i < expected.Length; i++)
        {
            var e = expected[i];
            var actual = cohorts[i]!;
            Assert.True(e.Size == (long)actual["size"]!, $"cohort {e.Cohort}: size {actual["size"]}, expected {e.Size}");
            var users = actual["periods"]!.AsArray().Select(p => (long)p!["users"]!).ToArray();
            Assert.True(e.Users.SequenceEqual(users), $"cohort {e.Cohort}: users [{string.Join(", ", users)}], expected [{string.Join(", ", e.Users)}]");
            Assert.Equal(Enumerable.Range(0, e.Users.Length), actual["periods"]!.AsArray().Select(p => (int)p!["period"]!));
            Assert.All(actual["periods"]!.AsArray(), p => Assert.Equal(e.Size == 0 ? 0 : (long)p!["users"]! * 100.0 / e.Size, (double)p!["percentage"]!, 9));
        }
    }
}
