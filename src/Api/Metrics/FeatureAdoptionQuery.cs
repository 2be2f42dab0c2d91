using System.Globalization;
using System.Text.Json.Serialization;
using Api.Querying;

namespace Api.Metrics;

/// <summary>Adoption of one feature (an event name) by the weekly cohorts of new actors whose week starts in the range.</summary>
public sealed record FeatureAdoptionRequest(string Feature, TimeRange Range, QuerySource Source);

public sealed record AdoptionCohort(DateOnly Week, long CohortUsers, long Adopters, double AdoptionRate);

public sealed record FeatureAdoptionResponse(
    string Feature, DateTimeOffset From, DateTimeOffset To, string TimeZone, DateTimeOffset HistoryFrom, DateTimeOffset AdoptersUntil,
    IReadOnlyList<string> Sources, long CohortUsers, long Adopters, double AdoptionRate, IReadOnlyList<AdoptionCohort> Cohorts);

/// <summary>
/// Feature adoption by weekly cohort, from events. An actor's cohort is the local Monday-week of its
/// first event, looked for over <see cref="HistoryDays"/> before the first cohort week (an actor
/// silent that long before counts as new); it adopted when it sent the feature's event at any time
/// up to now. The weeks asked for are those whose Monday (local midnight) is in [from, to); each is
/// counted whole.
/// </summary>
public sealed class FeatureAdoptionQuery(TenantSources sources, MetricsQueryRunner runner, TimeProvider time)
{
    /// <summary>How far before the first cohort week an actor's earlier events are looked for.</summary>
    public const int HistoryDays = 365;

    public async Task<FeatureAdoptionResponse> RunAsync(TenantScope scope, FeatureAdoptionRequest request, CancellationToken cancellationToken)
    {
        var range = request.Range;
        var weeks = Mondays(range);
        var now = time.GetUtcNow();
        var historyFrom = weeks.Count > 0 ? TimeRange.LocalMidnight(weeks[0], range.TimeZone).AddDays(-HistoryDays) : range.From;
        var rows = new Dictionary<DateOnly, CohortRow>();
        var tables = new List<string>();
        if (weeks.Count > 0 && TimeRange.LocalMidnight(weeks[0], range.TimeZone) < now)
        {
            var cohortFrom = TimeRange.LocalMidnight(weeks[0], range.TimeZone);
            var cohortTo = TimeRange.LocalMidnight(weeks[^1].AddDays(7), range.TimeZone);
            var events = await sources.EventsAsync(scope, historyFrom, now, null, request.Source == QuerySource.Raw, cancellationToken, properties: false);
            tables.AddRange(events.Tables);
            var sql = $"""
                SELECT toString(toMonday({MetricsSql.LocalDay("first_time", range.TimeZone)})) AS cohort_week,
                       toUInt64(count()) AS cohort_users, toUInt64(sum(adopted)) AS adopter_count
                FROM
                (
                    SELECT actor_id, min(event_time) AS first_time, max(event_name = {MetricsSql.Str(request.Feature)}) AS adopted
                    FROM {events.Sql}
                    WHERE actor_id != ''
                    GROUP BY actor_id
                    HAVING first_time >= {MetricsSql.Instant(cohortFrom)} AND first_time < {MetricsSql.Instant(cohortTo)}
                )
                GROUP BY cohort_week
                """;
            foreach (var row in await runner.QueryAsync(sql, FeatureAdoptionJsonContext.Default.CohortRow, cancellationToken))
            {
                rows[DateOnly.ParseExact(row.CohortWeek, "yyyy-MM-dd", CultureInfo.InvariantCulture)] = row;
            }
        }

        // Every week asked for has a cohort, also an empty one, so a chart has explicit zeros.
        var cohorts = weeks.Select(w => rows.TryGetValue(w, out var r)
            ? new AdoptionCohort(w, r.CohortUsers, r.AdopterCount, Rate(r.AdopterCount, r.CohortUsers))
            : new AdoptionCohort(w, 0, 0, 0)).ToList();
        var users = cohorts.Sum(c => c.CohortUsers);
        var adopters = cohorts.Sum(c => c.Adopters);
        return new FeatureAdoptionResponse(request.Feature, range.From, range.To, range.TimeZone, historyFrom, now,
            tables.Distinct().ToList(), users, adopters, Rate(adopters, users), cohorts);
    }

    /// <summary>The local Mondays whose midnight is in [from, to).</summary>
    internal static List<DateOnly> Mondays(TimeRange range)
    {
        var day = range.FirstDay;
        day = day.AddDays((7 - ((int)day.DayOfWeek + 6) % 7) % 7);
        if (TimeRange.LocalMidnight(day, range.TimeZone) < range.From)
        {
            day = day.AddDays(7);
        }

        var list = new List<DateOnly>();
        for (; TimeRange.LocalMidnight(day, range.TimeZone) < range.To; day = day.AddDays(7))
        {
            list.Add(day);
        }

        return list;
    }

    private static double Rate(long part, long whole) => whole == 0 ? 0 : (double)part / whole;

    public sealed record CohortRow(string CohortWeek, long CohortUsers, long AdopterCount);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(FeatureAdoptionQuery.CohortRow))]
internal sealed partial class FeatureAdoptionJsonContext : JsonSerializerContext;
