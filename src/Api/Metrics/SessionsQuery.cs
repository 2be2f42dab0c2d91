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
public sealed record SessionsRequest(TimeRange Range, SessionBreakdown Breakdown);

/// <summary>A histogram bin of session durations: [FromSeconds, ToSeconds), ToSeconds null for the open last bin.</summary>
public sealed record DurationBin(long FromSeconds, long? ToSeconds, long Sessions);

/// <summary>One breakdown value's sessions.</summary>
public sealed record SessionGroup(string Value, long Count, double MedianSeconds, long P95Seconds, double EventsPerSession, IReadOnlyList<DurationBin> Histogram);

public sealed record SessionsResponse(
    DateTimeOffset From, DateTimeOffset To, string TimeZone, DateTimeOffset? AsOf,
    long Count, double MedianSeconds, long P95Seconds, double EventsPerSession, IReadOnlyList<DurationBin> Histogram,
    string? Breakdown, IReadOnlyList<SessionGroup>? Values);

/// <summary>
/// Session statistics from the Transformer's sessions model (one row per session, keyed by the UTC
/// day it started): sessions whose start is in [from, to). The model is built by the heavy group,
/// so the answer is as fresh as its last build, which <see cref="SessionsResponse.AsOf"/> says.
/// </summary>
public sealed class SessionsQuery(TenantSources sources, ModelWatermarks watermarks, MetricsQueryRunner runner, IOptions<ApiOptions> options)
{
    /// <summary>The histogram's bin edges in seconds; the last bin is open.</summary>
    public static readonly IReadOnlyList<long> HistogramEdges = [0, 10, 30, 60, 180, 600, 1800, 3600];

    public async Task<SessionsResponse> RunAsync(TenantScope scope, SessionsRequest request, CancellationToken cancellationToken)
    {
        var range = request.Range;
        var asOf = (await watermarks.GetAsync("sessions", cancellationToken))?.DataAsOf;

        // The model's days are UTC days of started_at: read every one the range touches, then cut exactly.
        var fromDay = DateOnly.FromDateTime(range.From.UtcDateTime);
        var toDay = DateOnly.FromDateTime(range.To.AddTicks(-1).UtcDateTime).AddDays(1);
        var rows = $"""
            {sources.Rollup(scope, "sessions", fromDay, toDay, "session_date")}
            WHERE started_at >= {MetricsSql.Instant(range.From)} AND started_at < {MetricsSql.Instant(range.To)}
            """;

        var total = (await runner.QueryAsync(Sql(rows, groupKey: null, limit: null), SessionsJsonContext.Default.SessionRow, cancellationToken)).Single();
        List<SessionGroup>? values = null;
        if (request.Breakdown != SessionBreakdown.None)
        {
            var column = request.Breakdown == SessionBreakdown.Country ? "country" : "device";
            var grouped = await runner.QueryAsync(Sql(rows, column, options.Value.MaxBreakdownValues), SessionsJsonContext.Default.SessionRow, cancellationToken);
            values = grouped.Select(g => new SessionGroup(g.GroupKey, g.SessionCount, g.MedianSeconds, g.P95Seconds, g.EventsPerSession, Bins(g.Bins))).ToList();
        }

        return new SessionsResponse(range.From, range.To, range.TimeZone, asOf,
            total.SessionCount, total.MedianSeconds, total.P95Seconds, total.EventsPerSession, Bins(total.Bins),
            request.Breakdown == SessionBreakdown.None ? null : request.Breakdown.ToString().ToLowerInvariant(), values);
    }

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
