using System.Text.Json.Nodes;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// /v1/feature-adoption over actors known by construction: cohorts by first event, an actor whose
/// first event is long before the range (a late event sent now), an anonymous actor, a feature
/// event sent twice, an actor whose first event is in different weeks in UTC and in Berlin, and a
/// second tenant with the same user ids.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class FeatureAdoptionTests(MetricsPlatform platform)
{
    private const string Feature = "export";

    // The Monday four to five weeks ago (UTC): three cohort weeks M, M+7, M+14, all in the past.
    private static readonly DateTimeOffset M = Monday(DateTime.UtcNow.Date.AddDays(-28));

    // Monday M+7 at 00:30 in Berlin: still Sunday in UTC (week M there), Monday in Berlin (week M+7).
    private static readonly DateTimeOffset BerlinMondayEarly = new DateTimeOffset(
        TimeZoneInfo.ConvertTimeToUtc(M.AddDays(7).DateTime.AddMinutes(30), TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin")), TimeSpan.Zero);

    private static IEnumerable<JsonObject> TenantEvents()
    {
        yield return TestEvents.Track("view", "u1", M.AddDays(1));            // cohort M
        yield return TestEvents.Track(Feature, "u1", M.AddDays(15));          // adopts two weeks later
        yield return TestEvents.Track("view", "u2", M.AddDays(2));            // cohort M, never adopts
        yield return TestEvents.Track("view", "u3", M.AddDays(-3));           // cohort M-7: outside the range
        yield return TestEvents.Track(Feature, "u3", M.AddDays(2));
        yield return TestEvents.Track("view", "u4", M.AddDays(8));            // cohort M+7
        var twice = TestEvents.Track(Feature, "u4", M.AddDays(8).AddHours(1));
        yield return twice;
        yield return twice;                                                    // the same event id again
        yield return TestEvents.Track("view", "", M.AddDays(9), anonymousId: "a5"); // anonymous, cohort M+7
        yield return TestEvents.Track("view", "u6", M.AddDays(-100));         // late: first seen 100 days before (inside raw retention)
        yield return TestEvents.Track(Feature, "u6", M.AddDays(9));
        yield return TestEvents.Track("view", "u7", BerlinMondayEarly);       // UTC: M, Berlin: M+7
        yield return TestEvents.Track(Feature, "u7", BerlinMondayEarly.AddHours(2));
    }

    /// <summary>The same ids in another tenant, with adoptions that would change every number if they leaked.</summary>
    private static IEnumerable<JsonObject> ForeignEvents()
    {
        yield return TestEvents.Track(Feature, "u2", M.AddDays(3));
        yield return TestEvents.Track("view", "u8", M.AddDays(15));
        yield return TestEvents.Track(Feature, "a5", M.AddDays(10));
    }

    [Fact]
    public async Task Cohorts_and_adopters_are_exact_in_utc_and_berlin()
    {
        var tenant = await platform.CreateTenantAsync();
        var foreign = await platform.CreateTenantAsync();
        var events = TenantEvents().ToList();
        await platform.SendAsync(tenant, events);
        await platform.SendAsync(foreign, ForeignEvents());
        await platform.WaitForStoredAsync(tenant, events.Count - 1);
        await platform.WaitForStoredAsync(foreign, 3);
        var api = platform.Api(tenant.ReadKey);
        var range = $"from={Day(M)}&to={Day(M.AddDays(21))}";

        foreach (var source in new[] { "auto", "events", "raw" })
        {
            var utc = await MetricsPlatform.GetJsonAsync(api, $"/v1/feature-adoption?feature={Feature}&{range}&tz=UTC&source={source}");
            AssertCohorts(utc, (M, 3, 2), (M.AddDays(7), 2, 1), (M.AddDays(14), 0, 0));
            Assert.Equal(5, utc["cohortUsers"]!.GetValue<long>());
            Assert.Equal(3, utc["adopters"]!.GetValue<long>());
            Assert.Equal(0.6, utc["adoptionRate"]!.GetValue<double>(), 9);
        }

        var berlin = await MetricsPlatform.GetJsonAsync(api, $"/v1/feature-adoption?feature={Feature}&{range}&tz=Europe/Berlin");
        AssertCohorts(berlin, (M, 2, 1), (M.AddDays(7), 3, 2), (M.AddDays(14), 0, 0));

        // Only weeks whose Monday is in [from, to): starting on a Tuesday drops week M.
        var fromTuesday = await MetricsPlatform.GetJsonAsync(api, $"/v1/feature-adoption?feature={Feature}&from={Day(M.AddDays(1))}&to={Day(M.AddDays(14))}&tz=UTC");
        AssertCohorts(fromTuesday, (M.AddDays(7), 2, 1));

        // A feature name is a value, never SQL: the same cohorts, nobody adopted it.
        var hostile = await MetricsPlatform.GetJsonAsync(api, $"/v1/feature-adoption?feature={Uri.EscapeDataString("x' OR 1=1 --")}&{range}&tz=UTC");
        AssertCohorts(hostile, (M, 3, 0), (M.AddDays(7), 2, 0), (M.AddDays(14), 0, 0));
    }

    [Fact]
    public async Task Hostile_or_missing_inputs_are_400_problems()
    {
        var tenant = await platform.CreateTenantAsync();
        var api = platform.Api(tenant.ReadKey);
        foreach (var (query, parameter) in new[]
        {
            ("", "feature"),
            ("feature=", "feature"),
            ($"feature={new string('a', 129)}", "feature"),
            ("feature=a%0Ab", "feature"),
            ("feature=export&source=x'%20OR%201%3D1%20--", "source"),
            ("feature=export&tz=Nowhere%2FLand", "tz"),
            ("feature=export&from=2026-02-01&to=2026-01-01", "from"),
            ("feature=export&from=1900-01-01", "from"),
            ("feature=export&from=2000-01-01&to=2030-01-01", "from"),
        })
        {
            var problem = await MetricsPlatform.GetProblemAsync(api, $"/v1/feature-adoption?{query}");
            Assert.Equal(parameter, problem["parameter"]?.GetValue<string>());
        }
    }

    private static void AssertCohorts(JsonObject answer, params (DateTimeOffset Week, long Users, long Adopters)[] expected)
    {
        var cohorts = answer["cohorts"]!.AsArray();
        Assert.Equal(expected.Select(e => (Day(e.Week), e.Users, e.Adopters)),
            cohorts.Select(c => (c!["week"]!.GetValue<string>(), c["cohortUsers"]!.GetValue<long>(), c["adopters"]!.GetValue<long>())));
        foreach (var c in cohorts)
        {
            var users = c!["cohortUsers"]!.GetValue<long>();
            Assert.Equal(users == 0 ? 0 : (double)c["adopters"]!.GetValue<long>() / users, c["adoptionRate"]!.GetValue<double>(), 9);
        }
    }

    private static DateTimeOffset Monday(DateTime day) => new(day.AddDays(-(((int)day.DayOfWeek + 6) % 7)), TimeSpan.Zero);

    private static string Day(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd");
}
