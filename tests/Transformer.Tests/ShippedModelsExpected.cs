using System.Globalization;
using System.Text.Json;

namespace Transformer.Tests;

/// <summary>
/// What each shipped model should hold, computed independently in C# from the raw deliveries: dedupe
/// by (tenant, event_id) keeping the copy with the earliest (event_time, received_at), then plain
/// LINQ. Rows are rendered as tab-separated lines, in the same shape as the queries in
/// <see cref="ShippedModelsTests"/> select them (times as unix seconds, dates as yyyy-MM-dd).
/// </summary>
public sealed class ShippedModelsExpected
{
    public ShippedModelsExpected(IEnumerable<RawEvent> deliveries)
    {
        Events = deliveries
            .GroupBy(e => (e.TenantId, e.EventId))
            .Select(g => g.OrderBy(e => e.EventTime).ThenBy(e => e.ReceivedAt).First())
            .ToList();
    }

    /// <summary>One per (tenant, event_id).</summary>
    public IReadOnlyList<RawEvent> Events { get; }

    private IEnumerable<RawEvent> WithActor => Events.Where(e => e.ActorId.Length > 0);

    public IEnumerable<string> StgEvents() => Events.Select(e => Line(
        e.TenantId, e.EventId, e.EventType, e.EventName, e.UserId, e.AnonymousId, e.ActorId, e.SessionId,
        Unix(e.EventTime), Day(e.EventDate), Unix(e.ReceivedAt), e.Country, e.Device, e.Os, e.AppVersion, e.Page, e.Properties));

    public IEnumerable<string> RollupEventsDaily() => Events
        .GroupBy(e => (e.TenantId, e.EventDate, e.EventName, e.Country, e.Device, e.Os, e.AppVersion))
        .Select(g => Line(g.Key.TenantId, Day(g.Key.EventDate), g.Key.EventName, g.Key.Country, g.Key.Device, g.Key.Os, g.Key.AppVersion,
            g.Count(), g.Select(e => e.ActorId).Distinct().Count()));

    public IEnumerable<string> RollupEventNamesDaily() => Events
        .GroupBy(e => (e.TenantId, e.EventDate, e.EventName))
        .Select(g => Line(g.Key.TenantId, Day(g.Key.EventDate), g.Key.EventName, g.Count(), g.Select(e => e.ActorId).Distinct().Count()));

    public IEnumerable<string> ActorFirstSeen() => WithActor
        .GroupBy(e => (e.TenantId, e.ActorId))
        .Select(g => Line(g.Key.TenantId, g.Key.ActorId, Day(g.Min(e => e.EventDate)), Unix(g.Min(e => e.EventTime))));

    public IEnumerable<string> RollupActiveUsersDaily() => WithActor
        .GroupBy(e => (e.TenantId, e.EventDate))
        .Select(g => Line(g.Key.TenantId, Day(g.Key.EventDate), g.Select(e => e.ActorId).Distinct().Count()));

    /// <summary>dau/wau/mau for every tenant and day with activity, over trailing 1/7/30 days.</summary>
    public IEnumerable<string> ActiveUsers()
    {
        foreach (var tenant in WithActor.GroupBy(e => e.TenantId))
        {
            var byDay = tenant.GroupBy(e => e.EventDate).ToDictionary(g => g.Key, g => g.Select(e => e.ActorId).ToHashSet());
            foreach (var day in byDay.Keys)
            {
                int Active(int days) => byDay.Where(d => d.Key <= day && d.Key > day.AddDays(-days)).SelectMany(d => d.Value).Distinct().Count();
                yield return Line(tenant.Key, Day(day), Active(1), Active(7), Active(30));
            }
        }
    }

    public IEnumerable<string> Sessions()
    {
        var sessions = new List<List<RawEvent>>();
        sessions.AddRange(Events.Where(e => e.SessionId.Length > 0)
            .GroupBy(e => (e.TenantId, e.SessionId))
            .Select(g => Ordered(g).ToList()));
        foreach (var actor in WithActor.Where(e => e.SessionId.Length == 0).GroupBy(e => (e.TenantId, e.ActorId)))
        {
            List<RawEvent>? current = null;
            foreach (var e in Ordered(actor))
            {
                if (current is null || (e.EventTime - current[^1].EventTime).TotalSeconds > 1800)
                {
                    current = [];
                    sessions.Add(current);
                }

                current.Add(e);
            }
        }

        return sessions.Select(s =>
        {
            var first = s[0];
            var last = s[^1];
            var id = first.SessionId.Length > 0
                ? first.SessionId
                : $"gap-{first.ActorId}-{new DateTimeOffset(first.EventTime).ToUnixTimeSeconds()}";
            return Line(first.TenantId, id, first.ActorId, Day(first.EventDate), Unix(first.EventTime), Unix(last.EventTime),
                (long)(last.EventTime - first.EventTime).TotalSeconds, s.Count, first.EventName, last.EventName, first.Country, first.Device);
        });
    }

    public IEnumerable<string> SignupFunnel()
    {
        foreach (var actor in WithActor.GroupBy(e => (e.TenantId, e.ActorId)))
        {
            var views = actor.Where(IsSignupView).Select(e => e.EventTime).Order().ToList();
            if (views.Count == 0)
            {
                continue;
            }

            var viewed = views[0];
            DateTime? First(string name, DateTime from) => actor
                .Where(e => e.EventType == "track" && e.EventName == name && e.EventTime >= from)
                .Select(e => (DateTime?)e.EventTime).Min();
            var submitted = First("signup_submitted", viewed);
            var completed = submitted is { } s ? First("signup_completed", s) : null;
            yield return Line(actor.Key.TenantId, actor.Key.ActorId, Unix(viewed), Unix(submitted ?? DateTime.UnixEpoch), Unix(completed ?? DateTime.UnixEpoch),
                submitted is null ? 0 : 1, completed is null ? 0 : 1, Day(DateOnly.FromDateTime(viewed)));
        }
    }

    public IEnumerable<string> Retention()
    {
        foreach (var grain in new[] { "day", "week" })
        {
            var actors = WithActor.GroupBy(e => (e.TenantId, e.ActorId)).Select(g =>
            {
                var firstSeen = g.Min(e => e.EventDate);
                var periods = g.Select(e => grain == "day"
                    ? e.EventDate.DayNumber - firstSeen.DayNumber
                    : (Monday(e.EventDate).DayNumber - Monday(firstSeen).DayNumber) / 7).Distinct().ToList();
                return (g.Key.TenantId, Cohort: grain == "day" ? firstSeen : Monday(firstSeen), Periods: periods);
            });
            foreach (var cohort in actors.GroupBy(a => (a.TenantId, a.Cohort)))
            {
                foreach (var period in cohort.SelectMany(a => a.Periods).GroupBy(p => p))
                {
                    yield return Line(cohort.Key.TenantId, grain, Day(cohort.Key.Cohort), period.Key, period.Count(), cohort.Count());
                }
            }
        }
    }

    public IEnumerable<string> FeatureAdoption()
    {
        foreach (var tenant in WithActor.GroupBy(e => e.TenantId))
        {
            var actors = tenant.GroupBy(e => e.ActorId).Select(g => (
                Week: Monday(g.Min(e => e.EventDate)),
                Features: g.Where(e => e.EventType == "track").Select(e => e.EventName).ToHashSet())).ToList();
            var features = tenant.Where(e => e.EventType == "track").Select(e => e.EventName).Distinct();
            foreach (var feature in features)
            {
                foreach (var cohort in actors.GroupBy(a => a.Week))
                {
                    var adopters = cohort.Count(a => a.Features.Contains(feature));
                    yield return Line(tenant.Key, feature, Day(cohort.Key), cohort.Count(), adopters, Rate((double)adopters / cohort.Count()));
                }
            }
        }
    }

    /// <summary>Events of one session or actor in time order, ties by event_id (ClickHouse compares bytes).</summary>
    private static IEnumerable<RawEvent> Ordered(IEnumerable<RawEvent> events) =>
        events.OrderBy(e => e.EventTime).ThenBy(e => e.EventId, StringComparer.Ordinal);

    /// <summary>The model's rule: a page call whose page's path is /signup or /signup/, or whose properties.path is /signup.</summary>
    private static bool IsSignupView(RawEvent e)
    {
        if (e.EventType != "page")
        {
            return false;
        }

        var page = e.Page;
        var scheme = page.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            var slash = page.IndexOf('/', scheme + 3);
            page = slash < 0 ? "" : page[slash..];
        }

        var end = page.IndexOfAny(['?', '#']);
        var path = end < 0 ? page : page[..end];
        using var properties = JsonDocument.Parse(e.Properties);
        return path is "/signup" or "/signup/"
            || (properties.RootElement.TryGetProperty("path", out var p) && p.ValueKind == JsonValueKind.String && p.GetString() == "/signup");
    }

    public static DateOnly Monday(DateOnly day) => day.AddDays(-(((int)day.DayOfWeek + 6) % 7));

    public static string Unix(DateTime time) => new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);

    public static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>A rate as the test query renders it: rounded to 6 decimals, no trailing zeros.</summary>
    public static string Rate(double rate) => Math.Round(rate, 6).ToString("0.######", CultureInfo.InvariantCulture);

    public static string Line(params object[] values) =>
        string.Join('\t', values.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture)));
}
