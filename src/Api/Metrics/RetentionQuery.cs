using System.Text.Json.Serialization;
using Api.Querying;

namespace Api.Metrics;

public enum RetentionGrain
{
    Day,
    Week,
}

/// <summary>Cohorts of actors by their first <see cref="CohortEvent"/> (any event when null) in <see cref="Range"/>, followed for <see cref="Periods"/> periods.</summary>
public sealed record RetentionRequest(TimeRange Range, RetentionGrain Grain, int Periods, string? CohortEvent, string? ReturnEvent, QuerySource Source);

/// <summary><see cref="Percentage"/> is users / cohort size × 100 (0 for an empty cohort).</summary>
public sealed record RetentionPeriod(int Period, long Users, double Percentage);

public sealed record RetentionCohort(DateOnly Cohort, long Size, IReadOnlyList<RetentionPeriod> Periods);

public sealed record RetentionResponse(
    DateTimeOffset From, DateTimeOffset To, string TimeZone, string Grain, int Periods, string? CohortEvent, string? ReturnEvent,
    int HistoryDays, IReadOnlyList<string> Sources, IReadOnlyList<RetentionCohort> Cohorts);

/// <summary>
/// Cohort retention, computed in ClickHouse. An actor's cohort is the local day (or Monday-week) of
/// its first qualifying event, looked for over <see cref="HistoryDays"/> before the range, and only
/// actors whose first one is inside the range are cohort members. Period p holds the members with a
/// return event in the p-th local day/week after their cohort's.
/// </summary>
public sealed class RetentionQuery(TenantSources sources, MetricsQueryRunner runner, TimeProvider time)
{
    /// <summary>How far back "first" looks: an actor last seen before this is taken as new. A constant, so answers do not depend on configuration.</summary>
    public const int HistoryDays = 365;

    private const string FirstSeenModel = "actor_first_seen";

    /// <summary>Each day's active actors as hashes: the returns to any event.</summary>
    private const string ActorsModel = "rollup_active_users_daily";

    public async Task<RetentionResponse> RunAsync(TenantScope scope, RetentionRequest request, CancellationToken cancellationToken)
    {
        var range = request.Range;
        var zone = range.TimeZone;
        var days = request.Grain == RetentionGrain.Week ? 7 : 1;
        var firstCohort = CohortOf(range.FirstDay, request.Grain);
        var lastCohort = CohortOf(range.LastDay, request.Grain);
        // Returns are read from the first cohort's start to the end of the last cohort's last period, but never past now.
        var now = time.GetUtcNow();
        var returnsFrom = TimeRange.LocalMidnight(firstCohort, zone);
        var returnsTo = TimeRange.LocalMidnight(lastCohort.AddDays(days * request.Periods), zone);
        returnsTo = returnsTo < now ? returnsTo : now.AddSeconds(1);

        var firsts = await FirstsAsync(scope, request, cancellationToken);
        var returns = await ReturnsAsync(scope, request, returnsFrom, Max(returnsTo, returnsFrom.AddSeconds(1)), cancellationToken);

        var cohortBucket = request.Grain == RetentionGrain.Week ? $"toMonday({MetricsSql.LocalDay("first_time", zone)})" : MetricsSql.LocalDay("first_time", zone);
        // Actors are joined by a 64-bit hash of actor_id (the rollups' form): two actors only merge if
        // their hashes collide. Returns stream past the members (the smaller side, hashed); members
        // without a return in a period asked for get period -1, so every member counts in the size.
        // No lambdas: 18.16 prunes subquery columns that are only captured by one.
        var sql = $"""
            SELECT toString(cohort_start) AS cohort, uniqExactMerge(period_state) AS size, groupArrayIf((period, period_users), period >= 0) AS users
            FROM
            (
                SELECT cohort_start, period, uniqExact(actor_key) AS period_users, uniqExactState(actor_key) AS period_state
                FROM
                (
                    SELECT cohort_start, actor_key,
                           if(return_bucket >= cohort_start AND toInt32(return_bucket) - toInt32(cohort_start) < {MetricsSql.Int(request.Periods * days)},
                              intDiv(toInt32(return_bucket) - toInt32(cohort_start), {days}), -1) AS period
                    FROM
                    (
                        {returns.Sql}
                    )
                    ALL RIGHT JOIN
                    (
                        SELECT cityHash64(actor_id) AS actor_key, {cohortBucket} AS cohort_start
                        FROM
                        (
                            {firsts.Sql}
                        )
                        WHERE first_time >= {MetricsSql.Instant(range.From)} AND first_time < {MetricsSql.Instant(range.To)}
                    ) USING actor_key
                )
                GROUP BY cohort_start, period
            )
            GROUP BY cohort_start
            ORDER BY cohort_start
            """;
        var rows = await runner.QueryAsync(sql, RetentionJsonContext.Default.RetentionRow, cancellationToken);
        var byCohort = rows.ToDictionary(r => DateOnly.Parse(r.Cohort, System.Globalization.CultureInfo.InvariantCulture));

        // Every cohort of the range is listed (size 0 when nobody started then); periods that have not begun are left out.
        var cohorts = new List<RetentionCohort>();
        for (var cohort = firstCohort; cohort <= lastCohort; cohort = cohort.AddDays(days))
        {
            var row = byCohort.GetValueOrDefault(cohort);
            var size = row?.Size ?? 0;
            var periods = Enumerable.Range(0, request.Periods)
                .TakeWhile(p => TimeRange.LocalMidnight(cohort.AddDays(p * days), zone) <= now)
                .Select(p =>
                {
                    var users = row?.Users.FirstOrDefault(u => u[0] == p)?[1] ?? 0;
                    return new RetentionPeriod(p, users, size == 0 ? 0 : users * 100.0 / size);
                }).ToList();
            cohorts.Add(new RetentionCohort(cohort, size, periods));
        }

        return new RetentionResponse(range.From, range.To, zone, request.Grain.ToString().ToLowerInvariant(), request.Periods, request.CohortEvent,
            request.ReturnEvent, HistoryDays, firsts.Tables.Concat(returns.Tables).Distinct().ToList(), cohorts);
    }

    /// <summary>
    /// A query of (actor_key, return_bucket) rows: an actor's hashed id and the local day (or Monday) of
    /// one of its return events in [from, to), repeats allowed. Returns to any event in UTC read the
    /// day's actors from rollup_active_users_daily for the whole days it holds, and events for the rest.
    /// </summary>
    private async Task<EventsSource> ReturnsAsync(TenantScope scope, RetentionRequest request, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var zone = request.Range.TimeZone;
        var rawOnly = request.Source == QuerySource.Raw;
        var branches = new List<string>();
        var tables = new List<string>();
        var (rollupFrom, rollupTo) = request.ReturnEvent is null && request.Source == QuerySource.Auto && request.Range.IsUtc
            ? await sources.RollupDaysAsync(scope, ActorsModel, from, to, cancellationToken)
            : (default, default);
        if (rollupFrom < rollupTo)
        {
            var day = request.Grain == RetentionGrain.Week ? "toMonday(day)" : "day";
            branches.Add($"SELECT arrayJoin(actors) AS actor_key, {day} AS return_bucket FROM {sources.Rollup(scope, ActorsModel, rollupFrom, rollupTo)}");
            tables.Add(ActorsModel);
        }

        var bucket = request.Grain == RetentionGrain.Week ? $"toMonday({MetricsSql.LocalDay("event_time", zone)})" : MetricsSql.LocalDay("event_time", zone);
        var rollupStart = TimeRange.LocalMidnight(rollupFrom, "UTC");
        var rollupEnd = TimeRange.LocalMidnight(rollupTo, "UTC");
        foreach (var (start, end) in rollupFrom < rollupTo ? [(from, rollupStart), (rollupEnd, to)] : new[] { (from, to) })
        {
            if (start >= end)
            {
                continue;
            }

            var events = await sources.EventsAsync(scope, start, end, Names(request.ReturnEvent), rawOnly, cancellationToken, properties: false, dimensions: false);
            tables.AddRange(events.Tables);
            branches.Add($"SELECT cityHash64(actor_id) AS actor_key, {bucket} AS return_bucket FROM {events.Sql} WHERE actor_id != ''{NameFilter(request.ReturnEvent)}");
        }

        return new EventsSource(string.Join("\n                        UNION ALL\n                        ", branches), tables);
    }

    /// <summary>
    /// A subquery of (actor_id, first_time): each actor's first qualifying event. First-seen cohorts (no
    /// cohort event) read the actor_first_seen model for the days it holds and events only for actors
    /// new since; a named cohort event, or a model that cannot answer, reads the events of the history.
    /// </summary>
    private async Task<EventsSource> FirstsAsync(TenantScope scope, RetentionRequest request, CancellationToken cancellationToken)
    {
        var range = request.Range;
        var historyFrom = range.From - TimeSpan.FromDays(HistoryDays);
        var settled = request.CohortEvent is null && request.Source == QuerySource.Auto
            ? await sources.RollupSettledBeforeAsync(scope, FirstSeenModel, historyFrom, range.To, cancellationToken)
            : null;
        if (settled is not { } day)
        {
            var events = await sources.EventsAsync(scope, historyFrom, range.To, Names(request.CohortEvent), request.Source == QuerySource.Raw, cancellationToken, properties: false, dimensions: false);
            return events with
            {
                Sql = $"""
                    SELECT actor_id, min(event_time) AS first_time
                    FROM {events.Sql}
                    WHERE actor_id != ''{NameFilter(request.CohortEvent)}
                    GROUP BY actor_id
                    """,
            };
        }

        // A late event can leave an actor a second, later row until that day is rebuilt: min() per actor.
        var known = sources.Rollup(scope, FirstSeenModel, DateOnly.FromDateTime(DateTime.UnixEpoch), day, "first_seen");
        // 18.16 would read first_time inside min() as the alias of the same name: a differently named inner column.
        var sql = $"SELECT actor_id, first_at AS first_time FROM (SELECT actor_id, min(first_time) AS first_at FROM {known} GROUP BY actor_id)";
        var split = TimeRange.LocalMidnight(day, "UTC");
        if (split >= range.To)
        {
            return new EventsSource(sql, [FirstSeenModel]);
        }

        // Actors the model does not hold before its watermark were first seen after it: their first event is in the events since.
        var recent = await sources.EventsAsync(scope, split, range.To, null, rawOnly: false, cancellationToken, properties: false, dimensions: false);
        return new EventsSource($"""
            {sql}
                                UNION ALL
                                SELECT actor_id, min(event_time) AS first_time
                                FROM {recent.Sql}
                                WHERE actor_id != '' AND actor_id NOT IN (SELECT actor_id FROM {known})
                                GROUP BY actor_id
            """, [FirstSeenModel, .. recent.Tables]);
    }

    private static DateOnly CohortOf(DateOnly day, RetentionGrain grain) =>
        grain == RetentionGrain.Week ? day.AddDays(-(((int)day.DayOfWeek + 6) % 7)) : day;

    private static IReadOnlyCollection<string>? Names(string? name) => name is null ? null : [name];

    /// <summary>The source's name prefilter is an optimization; the predicate that defines the answer is here.</summary>
    private static string NameFilter(string? name) => name is null ? "" : $" AND event_name = {MetricsSql.Str(name)}";

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    /// <summary><see cref="Users"/>: (period, users) for the periods someone returned in.</summary>
    public sealed record RetentionRow(string Cohort, long Size, List<long[]> Users);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(RetentionQuery.RetentionRow))]
internal sealed partial class RetentionJsonContext : JsonSerializerContext;
