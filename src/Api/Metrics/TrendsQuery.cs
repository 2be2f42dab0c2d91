using System.Text.Json.Serialization;
using Api.Querying;
using Microsoft.Extensions.Options;

namespace Api.Metrics;

public enum TrendMeasure
{
    Count,
    Users,
}

/// <summary>Counts or unique users of events per bucket; <see cref="Events"/> empty means all events as one series.</summary>
public sealed record TrendsRequest(
    TimeRange Range,
    Interval Interval,
    TrendMeasure Measure,
    IReadOnlyList<string> Events,
    IReadOnlyList<EventFilter> Filters,
    Dimension? Breakdown,
    QuerySource Source);

public sealed record TrendPoint(DateTimeOffset Time, long Value);

public sealed record TrendSeries(string? Event, string? Breakdown, long Total, IReadOnlyList<TrendPoint> Points);

public sealed record TrendsResponse(
    DateTimeOffset From, DateTimeOffset To, string TimeZone, string Interval, string Measure, string? Breakdown,
    IReadOnlyList<string> Sources, IReadOnlyList<TrendSeries> Series);

/// <summary>
/// Event trends. Whole UTC days a rollup holds are read from it: rollup_active_users_daily for the users
/// of all events, rollup_event_names_daily when only event names matter, rollup_events_daily for its
/// breakdown dimensions (counts summed, user sets merged); the rest of the range from events. Both halves meet in one query, so a user active on both sides of the
/// split counts once in a week bucket and in the total.
/// </summary>
public sealed class TrendsQuery(TenantSources sources, MetricsQueryRunner runner, IOptions<ApiOptions> options)
{
    private static readonly HashSet<string> RollupDimensions = ["event_name", "country", "device", "os", "app_version"];

    /// <summary>
    /// How a query carries distinct users from its branches to the totals: uniqExact states (the wide
    /// rollup's form) or arrays of 64-bit actor hashes (the narrow rollup's form, much cheaper to merge on 18.16).
    /// Every branch of one query uses the same form, so an actor on both sides of a split counts once.
    /// </summary>
    private sealed record UserSets(string RollupColumn, string FromEvents, Func<string, string> Union, Func<string, string> Count, Func<string, string> Total)
    {
        public static readonly UserSets States = new("users", "uniqExactState(actor_id)",
            c => $"uniqExactMergeState({c})", c => $"finalizeAggregation({c})", c => $"uniqExactMerge({c})");

        public static readonly UserSets Hashes = new("actors", "groupUniqArray(cityHash64(actor_id))",
            c => $"groupUniqArrayArray({c})", c => $"toUInt64(length({c}))", c => $"uniqExactArray({c})");

        /// <summary>Hashes of active actors only, as rollup_active_users_daily keeps them.</summary>
        public static readonly UserSets ActorHashes = Hashes with { FromEvents = "groupUniqArrayIf(cityHash64(actor_id), actor_id != '')" };
    }

    /// <summary>
    /// A rollup that can answer a request: its model, how it carries users, its event count column, and
    /// whether it has one row per tenant and day (a day's users then need no merging).
    /// </summary>
    private sealed record Rollup(string Model, UserSets Sets, string Events, bool OneRowPerDay = false)
    {
        public static readonly Rollup ActiveActors = new("rollup_active_users_daily", UserSets.ActorHashes, "toUInt64(0)", OneRowPerDay: true);
        public static readonly Rollup EventNames = new("rollup_event_names_daily", UserSets.Hashes, "events");
        public static readonly Rollup Dimensions = new("rollup_events_daily", UserSets.States, "events");
    }

    public async Task<TrendsResponse> RunAsync(TenantScope scope, TrendsRequest request, CancellationToken cancellationToken)
    {
        var range = request.Range;
        var branches = new List<string>();
        var tables = new List<string>();
        var rollup = RollupFor(request);
        var (rollupFrom, rollupTo) = rollup is null ? default : await sources.RollupDaysAsync(scope, rollup.Model, range.From, range.To, cancellationToken);
        var sets = rollup?.Sets ?? UserSets.States;
        var breakdown = request.Breakdown?.Expression ?? "''";
        var names = request.Events.Count > 0 ? request.Events : null;
        var seriesEvent = names is null ? "''" : "event_name";
        var users = request.Measure == TrendMeasure.Users;
        var where = MetricsSql.And(request.Filters.Select(f => f.Sql).Prepend(names is null ? "" : $"event_name IN ({MetricsSql.StrList(names)})"));

        var rollupRows = rollupFrom < rollupTo ? $"{sources.RollupRows(scope, rollup!.Model, rollupFrom, rollupTo)} AND {where}" : null;
        var rollupKeys = rollupRows is null ? "" : $"{MetricsSql.DayBucketStart(request.Interval, "day")} AS bucket, {seriesEvent} AS series_event, {breakdown} AS series_key";
        if (rollupRows is not null)
        {
            branches.Add($"""
                SELECT {rollupKeys}, {rollup!.Events} AS branch_events{(users ? $", {sets.RollupColumn} AS branch_users" : "")}
                FROM {rollupRows}
                """);
            tables.Add(rollup.Model);
        }

        var rollupStart = TimeRange.LocalMidnight(rollupFrom, "UTC");
        var rollupEnd = TimeRange.LocalMidnight(rollupTo, "UTC");
        foreach (var (from, to) in rollupFrom < rollupTo ? [(range.From, rollupStart), (rollupEnd, range.To)] : new[] { (range.From, range.To) })
        {
            if (from >= to)
            {
                continue;
            }

            var properties = request.Filters.Any(f => f.Dimension.ReadsProperties) || request.Breakdown?.ReadsProperties == true;
            var events = await sources.EventsAsync(scope, from, to, names, request.Source == QuerySource.Raw, cancellationToken, properties, Dimension.AnyReadsUsers(request.Filters, request.Breakdown),
                dimensions: request.Filters.Count > 0 || request.Breakdown is not null);
            tables.AddRange(events.Tables);
            branches.Add($"""
                SELECT {MetricsSql.BucketStart(request.Interval, "event_time", range.TimeZone)} AS bucket, {seriesEvent} AS series_event, {breakdown} AS series_key,
                       count() AS branch_events{(users ? $", {sets.FromEvents} AS branch_users" : "")}
                FROM {events.Sql}
                WHERE {where}
                GROUP BY bucket, series_event, series_key
                """);
        }

        // Counts never touch the user sets: merging them is most of a rollup query's cost.
        var (point, total, bucketUsers) = users
            ? (sets.Count("bucket_users"), sets.Total("bucket_users"), $", {sets.Union("branch_users")} AS bucket_users")
            : ("toUInt64(0)", "sum(bucket_events)", "");
        // Every query layer costs 18.16 a few milliseconds: rows of the rollup alone are grouped straight from its table.
        var rollupOnly = rollupRows is not null && branches.Count == 1;
        var buckets = rollupOnly
            ? $"""
                SELECT {rollupKeys}, sum({rollup!.Events}) AS bucket_events{(users ? $", {sets.Union(sets.RollupColumn)} AS bucket_users" : "")}
                FROM {rollupRows}
                GROUP BY bucket, series_event, series_key
                """
            : $"""
                SELECT bucket, series_event, series_key, sum(branch_events) AS bucket_events{bucketUsers}
                FROM
                (
                    {string.Join("\n    UNION ALL\n", branches)}
                )
                GROUP BY bucket, series_event, series_key
                """;
        var sql = rollupOnly && rollup!.OneRowPerDay && request.Interval == Interval.Day
            // One row per day is one point per day: the whole answer is a single aggregation of the table's rows.
            ? $"""
                SELECT {seriesEvent} AS series_event, {breakdown} AS series_key,
                       groupArray(({MetricsSql.DayBucketStart(request.Interval, "day")}, {rollup.Events}, {(users ? sets.Count(sets.RollupColumn) : "toUInt64(0)")})) AS points,
                       {(users ? sets.Total(sets.RollupColumn) : $"sum({rollup.Events})")} AS total
                FROM {rollupRows}
                """
            : $"""
                SELECT series_event, series_key, groupArray((bucket, bucket_events, {point})) AS points, {total} AS total
                FROM
                (
                    {buckets}
                )
                GROUP BY series_event, series_key
                ORDER BY series_event, total DESC, series_key
                LIMIT {options.Value.MaxBreakdownValues} BY series_event
                """;

        // An aggregation without GROUP BY answers one row even over no rows; an empty series is no series.
        var rows = (await runner.QueryAsync(sql, TrendsJsonContext.Default.TrendRow, cancellationToken)).Where(r => r.Points.Count > 0).ToList();
        var starts = Buckets(range, request.Interval);
        var series = rows.Select(row =>
        {
            var values = row.Points.ToDictionary(p => p[0], p => request.Measure == TrendMeasure.Users ? p[2] : p[1]);
            return new TrendSeries(
                names is null ? null : row.SeriesEvent,
                request.Breakdown is null ? null : row.SeriesKey,
                row.Total,
                starts.Select(b => new TrendPoint(b, values.GetValueOrDefault(b.ToUnixTimeSeconds()))).ToList());
        });

        // Every requested event has a series, also one nobody sent (all zeros), so a panel never loses a line.
        var missing = request.Breakdown is null && names is not null
            ? names.Except(rows.Select(r => r.SeriesEvent)).Select(e => new TrendSeries(e, null, 0, starts.Select(b => new TrendPoint(b, 0)).ToList()))
            : [];
        var ordered = series.Concat(missing)
            .OrderBy(s => names is null ? 0 : IndexOf(names, s.Event)).ThenByDescending(s => s.Total).ThenBy(s => s.Breakdown, StringComparer.Ordinal).ToList();
        return new TrendsResponse(range.From, range.To, range.TimeZone, request.Interval.Name(), request.Measure.ToString().ToLowerInvariant(),
            request.Breakdown?.Name, tables.Distinct().ToList(), ordered);
    }

    /// <summary>
    /// The rollup that can answer the request: the day's active actors for the users of all events, the
    /// narrow one when only event names matter, the wide one for its breakdown dimensions, none for other
    /// dimensions, local-day zones or finer intervals.
    /// </summary>
    private static Rollup? RollupFor(TrendsRequest request)
    {
        if (request.Source != QuerySource.Auto || !request.Range.IsUtc || request.Interval is not (Interval.Day or Interval.Week))
        {
            return null;
        }

        IEnumerable<string> dimensions = [.. request.Filters.Select(f => f.Dimension.Name), .. request.Breakdown is null ? [] : new[] { request.Breakdown.Name }];
        return request.Measure == TrendMeasure.Users && request.Events.Count == 0 && !dimensions.Any() ? Rollup.ActiveActors
            : dimensions.All(d => d == "event_name") ? Rollup.EventNames
            : dimensions.All(RollupDimensions.Contains) ? Rollup.Dimensions
            : null;
    }

    /// <summary>Every bucket start in the range, so series have explicit zeros.</summary>
    internal static List<DateTimeOffset> Buckets(TimeRange range, Interval interval)
    {
        var list = new List<DateTimeOffset>();
        if (interval is Interval.Day or Interval.Week)
        {
            var day = range.FirstDay;
            if (interval == Interval.Week)
            {
                day = day.AddDays(-(((int)day.DayOfWeek + 6) % 7));
            }

            for (; TimeRange.LocalMidnight(day, range.TimeZone) < range.To; day = day.AddDays(interval == Interval.Week ? 7 : 1))
            {
                list.Add(TimeRange.LocalMidnight(day, range.TimeZone));
            }

            return list;
        }

        var step = interval == Interval.Minute ? TimeSpan.FromMinutes(1) : TimeSpan.FromHours(1);
        var start = new DateTimeOffset(range.From.UtcDateTime.Ticks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero);
        if (interval == Interval.Hour)
        {
            // The local hour's start: zones with half-hour offsets start their hours at :30 UTC.
            var zone = TimeZoneInfo.FindSystemTimeZoneById(range.TimeZone);
            var offset = zone.GetUtcOffset(range.From);
            var local = range.From.UtcDateTime + offset;
            start = new DateTimeOffset(new DateTime(local.Year, local.Month, local.Day, local.Hour, 0, 0) - offset, TimeSpan.Zero);
        }

        for (var t = start; t < range.To; t += step)
        {
            list.Add(t);
        }

        return list;
    }

    private static int IndexOf(IReadOnlyList<string> names, string? name)
    {
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i] == name)
            {
                return i;
            }
        }

        return names.Count;
    }

    public sealed record TrendRow(string SeriesEvent, string SeriesKey, List<long[]> Points, long Total);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(TrendsQuery.TrendRow))]
internal sealed partial class TrendsJsonContext : JsonSerializerContext;
