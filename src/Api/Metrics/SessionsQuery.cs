using System.Text.Json.Serialization;
using Api.Querying;
using Microsoft.Extensions.Options;

namespace Api.Metrics;

/// <summary>What sessions may be broken down by: the session's first event's country or device.</summary>
public enum SessionBreakdown
{
    None,
    Country,
    Device,
}

/// <summary>Sessions that started in the range, optionally per country or device.</summary>
public sealed record SessionsRequest(TimeRange Range, SessionBreakdown Breakdown, QuerySource Source = QuerySource.Auto);

/// <summary>A histogram bin of session durations: [FromSeconds, ToSeconds), ToSeconds null for the open last bin.</summary>
public sealed record DurationBin(long FromSeconds, long? ToSeconds, long Sessions);

/// <summary>One breakdown value's sessions.</summary>
public sealed record SessionGroup(string Value, long Count, double MedianSeconds, long P95Seconds, double EventsPerSession, IReadOnlyList<DurationBin> Histogram);

public sealed record SessionsResponse(
    DateTimeOffset From, DateTimeOffset To, string TimeZone, DateTimeOffset? AsOf, IReadOnlyList<string> Sources,
    long Count, double MedianSeconds, long P95Seconds, double EventsPerSession, IReadOnlyList<DurationBin> Histogram,
    string? Breakdown, IReadOnlyList<SessionGroup>? Values);

/// <summary>
/// Session statistics over sessions whose start is in [from, to). The days the Transformer's sessions model holds
/// whole (one row per session, keyed by the UTC day it started) are read from it; the rest (today, days that late
/// events arrived for) are sessionized from the tenant's events at query time by the model's own rules, so the
/// answer is exact whether or not the heavy group has run. <see cref="SessionsResponse.AsOf"/> is the model's build
/// when it answered alone, else the time of the query.
/// </summary>
public sealed class SessionsQuery(TenantSources sources, ModelWatermarks watermarks, MetricsQueryRunner runner, IOptions<ApiOptions> options, TimeProvider time)
{
    /// <summary>The histogram's bin edges in seconds; the last bin is open.</summary>
    public static readonly IReadOnlyList<long> HistogramEdges = [0, 10, 30, 60, 180, 600, 1800, 3600];

    /// <summary>The inactivity gap that ends a session of events without a client session_id (as the sessions model).</summary>
    private const int GapSeconds = 1800;

    public async Task<SessionsResponse> RunAsync(TenantScope scope, SessionsRequest request, CancellationToken cancellationToken)
    {
        var range = request.Range;
        var settled = request.Source == QuerySource.Auto ? await sources.RollupSettledBeforeAsync(scope, "sessions", range.From, range.To, cancellationToken) : null;

        // A session runs on into the next day: the last day held whole is sessionized from events too, with the events after it.
        var split = settled is { } day ? TimeRange.LocalMidnight(day.AddDays(-1), "UTC") : range.From;
        split = split < range.From ? range.From : split > range.To ? range.To : split;
        var parts = new List<string>();
        var tables = new List<string>();
        if (split > range.From)
        {
            var fromDay = DateOnly.FromDateTime(range.From.UtcDateTime);
            var toDay = DateOnly.FromDateTime(split.AddTicks(-1).UtcDateTime).AddDays(1);
            parts.Add($"""
                SELECT toDateTime(started_at, 'UTC') AS started_at, toUInt32(duration_seconds) AS duration_seconds, toUInt64(events) AS events,
                       toString(country) AS country, toString(device) AS device
                FROM {sources.RollupRows(scope, "sessions", fromDay, toDay, "session_date")}
                  AND started_at >= {MetricsSql.Instant(range.From)} AND started_at < {MetricsSql.Instant(split)}
                """);
            tables.Add("sessions");
        }

        if (split < range.To)
        {
            // The model reads a day either side of its window: a session starting at split sees the events before it, and runs on past to.
            var events = await sources.EventsAsync(scope, split.AddDays(-1), range.To.AddDays(1), null, request.Source == QuerySource.Raw, cancellationToken, properties: false);
            parts.Add(FromEvents(events.Sql, split, range.To));
            tables.AddRange(events.Tables);
        }

        var rows = $"(\n{string.Join("\n    UNION ALL\n", parts)}\n)";
        var total = (await runner.QueryAsync(Sql(rows, groupKey: null, limit: null), SessionsJsonContext.Default.SessionRow, cancellationToken)).Single();
        List<SessionGroup>? values = null;
        if (request.Breakdown != SessionBreakdown.None)
        {
            var column = request.Breakdown == SessionBreakdown.Country ? "country" : "device";
            var grouped = await runner.QueryAsync(Sql(rows, column, options.Value.MaxBreakdownValues), SessionsJsonContext.Default.SessionRow, cancellationToken);
            values = grouped.Select(g => new SessionGroup(g.GroupKey, g.SessionCount, g.MedianSeconds, g.P95Seconds, g.EventsPerSession, Bins(g.Bins))).ToList();
        }

        var asOf = split < range.To ? time.GetUtcNow() : (await watermarks.GetAsync("sessions", cancellationToken))?.DataAsOf;
        return new SessionsResponse(range.From, range.To, range.TimeZone, asOf, tables.Distinct().ToList(),
            total.SessionCount, total.MedianSeconds, total.P95Seconds, total.EventsPerSession, Bins(total.Bins),
            request.Breakdown == SessionBreakdown.None ? null : request.Breakdown.ToString().ToLowerInvariant(), values);
    }

    /// <summary>
    /// The sessions model's rules on the tenant's events (src/Transformer/models/marts/sessions.sql): a client
    /// session_id is one session; events without one are cut per actor where the gap to the previous is more than
    /// 30 minutes; country and device are the first event's; events of one second are ordered by event_id.
    /// </summary>
    private static string FromEvents(string events, DateTimeOffset from, DateTimeOffset to) => $"""
        SELECT toDateTime(session_start, 'UTC') AS started_at, toUInt32(toUInt32(session_end) - toUInt32(session_start)) AS duration_seconds,
               toUInt64(session_events) AS events, toString(first_event.1) AS country, toString(first_event.2) AS device
        FROM
        (
            SELECT min(event_time) AS session_start, max(event_time) AS session_end, count() AS session_events,
                   argMin((country, device), (event_time, event_id)) AS first_event
            FROM {events}
            WHERE session_id != ''
            GROUP BY session_id

            UNION ALL

            SELECT min(gap_event.1) AS session_start, max(gap_event.1) AS session_end, count() AS session_events,
                   argMin((gap_event.3, gap_event.4), (gap_event.1, gap_event.2)) AS first_event
            FROM
            (
                SELECT gap_actor, actor_events,
                       arrayCumSum(arrayMap(
                           (gap, position) -> toUInt32(position = 1 OR gap > {MetricsSql.Int(GapSeconds)}),
                           arrayDifference(arrayMap(e -> toInt64(toUInt32(e.1)), actor_events)),
                           arrayEnumerate(actor_events))) AS session_numbers
                FROM
                (
                    SELECT actor_id AS gap_actor, arraySort(groupArray((event_time, event_id, country, device))) AS actor_events
                    FROM {events}
                    WHERE session_id = '' AND actor_id != ''
                    GROUP BY actor_id
                )
            )
            ARRAY JOIN actor_events AS gap_event, session_numbers AS session_number
            GROUP BY gap_actor, session_number
        )
        WHERE session_start >= {MetricsSql.Instant(from)} AND session_start < {MetricsSql.Instant(to)}
        """;

    /// <summary>
    /// Statistics per group key, or over all sessions (no GROUP BY, so one row even over none; avg
    /// over none is nan, so the mean is guarded).
    /// </summary>
    private static string Sql(string rows, string? groupKey, int? limit)
    {
        const string durations = "groupArray(toUInt64(duration_seconds))";
        var bins = string.Join(", ", HistogramEdges.Select((edge, i) => i + 1 < HistogramEdges.Count
            ? $"countIf(duration_seconds >= {MetricsSql.Int(edge)} AND duration_seconds < {MetricsSql.Int(HistogramEdges[i + 1])})"
            : $"countIf(duration_seconds >= {MetricsSql.Int(edge)})"));
        return $"""
            SELECT toString({groupKey ?? "''"}) AS group_key, toUInt64(count()) AS session_count,
                   toFloat64({MetricsSql.Median(durations)}) AS median_seconds,
                   toUInt64({MetricsSql.NearestRank(durations, 0.95)}) AS p95_seconds,
                   if(count() = 0, 0, avg(events)) AS events_per_session,
                   [{bins}] AS bins
            FROM {rows}
            {(groupKey is null ? "" : $"GROUP BY group_key ORDER BY session_count DESC, group_key LIMIT {MetricsSql.Int(limit ?? 0)}")}
            """;
    }

    private static List<DurationBin> Bins(long[] counts) =>
        HistogramEdges.Select((edge, i) => new DurationBin(edge, i + 1 < HistogramEdges.Count ? HistogramEdges[i + 1] : null, counts[i])).ToList();

    public sealed record SessionRow(string GroupKey, long SessionCount, double MedianSeconds, long P95Seconds, double EventsPerSession, long[] Bins);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(SessionsQuery.SessionRow))]
internal sealed partial class SessionsJsonContext : JsonSerializerContext;
