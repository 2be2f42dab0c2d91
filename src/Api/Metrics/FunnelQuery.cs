using System.Text;
using System.Text.Json.Serialization;
using Api.Querying;
using Microsoft.Extensions.Options;

namespace Api.Metrics;

/// <summary>One funnel step: an event name and the filters its events must pass.</summary>
public sealed record FunnelStep(string Event, IReadOnlyList<EventFilter> Filters);

/// <summary>A funnel over entries in <see cref="Range"/>, each actor given <see cref="Window"/> from entry to convert.</summary>
public sealed record FunnelRequest(TimeRange Range, TimeSpan Window, IReadOnlyList<FunnelStep> Steps, Dimension? Breakdown, QuerySource Source);

/// <summary>One step's result. Medians are null for step 1 and for a step nobody reached.</summary>
public sealed record FunnelStepResult(
    int Step, string Event, long Count, double ConversionFromFirst, double ConversionFromPrevious,
    double? MedianSecondsFromPrevious, double? MedianSecondsFromFirst);

/// <summary>The funnel of the actors whose entry event had this breakdown value.</summary>
public sealed record FunnelBreakdown(string Value, IReadOnlyList<FunnelStepResult> Steps);

public sealed record FunnelResponse(
    DateTimeOffset From, DateTimeOffset To, string TimeZone, long WindowSeconds, string? Breakdown,
    IReadOnlyList<string> Sources, IReadOnlyList<FunnelStepResult> Steps, IReadOnlyList<FunnelBreakdown>? Breakdowns);

/// <summary>
/// Ordered funnels, computed in ClickHouse. Per actor: the step events' (time, event_id) sorted per
/// step; entry is the first step-1 event in the range; each next step is the first of its events
/// strictly after the previous step's in (time, event_id) order and at most the window after entry.
/// Each actor row is counted once overall and once under its entry's breakdown value, so the overall
/// medians are true medians, not merged ones.
/// </summary>
public sealed class FunnelQuery(TenantSources sources, MetricsQueryRunner runner, IOptions<ApiOptions> options)
{
    public async Task<FunnelResponse> RunAsync(TenantScope scope, FunnelRequest request, CancellationToken cancellationToken)
    {
        var range = request.Range;
        var names = request.Steps.Select(s => s.Event).Distinct(StringComparer.Ordinal).ToList();
        var properties = request.Steps.Any(s => s.Filters.Any(f => f.Dimension.ReadsProperties)) || request.Breakdown?.ReadsProperties == true;
        var users = Dimension.AnyReadsUsers(request.Steps.SelectMany(s => s.Filters), request.Breakdown);
        var dimensions = request.Breakdown is not null || request.Steps.Any(s => s.Filters.Count > 0);
        var events = await sources.EventsAsync(scope, range.From, range.To + request.Window, names, request.Source == QuerySource.Raw, cancellationToken, properties, users, dimensions);
        var rows = await runner.QueryAsync(Sql(request, events.Sql), FunnelJsonContext.Default.FunnelRow, cancellationToken);

        var overall = rows.FirstOrDefault(r => r.IsOverall == 1);
        var breakdowns = request.Breakdown is null
            ? null
            : rows.Where(r => r.IsOverall == 0).Select(r => new FunnelBreakdown(r.BreakdownValue, Results(request, r))).ToList();
        return new FunnelResponse(range.From, range.To, range.TimeZone, (long)request.Window.TotalSeconds, request.Breakdown?.Name,
            events.Tables, Results(request, overall), breakdowns);
    }

    private string Sql(FunnelRequest request, string events)
    {
        var steps = request.Steps;
        var window = MetricsSql.Int((long)request.Window.TotalSeconds);
        var breakdown = request.Breakdown?.Expression ?? "''";

        // Per actor: each step's candidate events as sorted (time, event_id) tuples; step 1 only inside the range, with its breakdown value.
        var candidates = new StringBuilder();
        for (var k = 1; k <= steps.Count; k++)
        {
            var step = steps[k - 1];
            var predicate = MetricsSql.And(step.Filters.Select(f => f.Sql)
                .Prepend($"event_name = {MetricsSql.Str(step.Event)}")
                .Append(k == 1 ? $"event_time < {MetricsSql.Instant(request.Range.To)}" : ""));
            var tuple = k == 1 ? $"toUInt32(event_time), event_id, toString({breakdown})" : "toUInt32(event_time), event_id";
            candidates.Append($",\n            arraySort(groupArrayIf(({tuple}), {predicate})) AS candidates_{k}");
        }

        // The chain: step k is the first candidate after step k-1 and within the window; (0, '') when not reached.
        var chain = new StringBuilder("candidates_1[1] AS reached_1");
        for (var k = 2; k <= steps.Count; k++)
        {
            chain.Append($",\n            if(reached_{k - 1}.1 = 0, (toUInt32(0), ''), arrayFirst(x -> (x.1, x.2) > (reached_{k - 1}.1, reached_{k - 1}.2) AND x.1 <= reached_1.1 + {window}, candidates_{k})) AS reached_{k}");
        }

        var times = string.Join(", ", Enumerable.Range(1, steps.Count).Select(k => $"reached_{k}.1"));
        var groups = request.Breakdown is null ? "[(toUInt8(1), '')]" : "[(toUInt8(1), ''), (toUInt8(0), reached_1.3)]";
        var counts = string.Join(", ", Enumerable.Range(1, steps.Count).Select(k => $"countIf(step_times[{k}] != 0)"));
        var gaps = new StringBuilder();
        for (var k = 2; k <= steps.Count; k++)
        {
            gaps.Append($",\n        groupArrayIf(step_times[{k}] - step_times[{k - 1}], step_times[{k}] != 0) AS from_previous_{k}");
            gaps.Append($",\n        groupArrayIf(step_times[{k}] - step_times[1], step_times[{k}] != 0) AS from_first_{k}");
        }

        var medianPrevious = string.Join(", ", Enumerable.Range(2, steps.Count - 1).Select(k => $"toFloat64({MetricsSql.Median($"from_previous_{k}")})").Prepend("toFloat64(0)"));
        var medianFirst = string.Join(", ", Enumerable.Range(2, steps.Count - 1).Select(k => $"toFloat64({MetricsSql.Median($"from_first_{k}")})").Prepend("toFloat64(0)"));
        return $"""
            SELECT is_overall, breakdown_value, entered, counts, [{medianPrevious}] AS median_previous, [{medianFirst}] AS median_first
            FROM
            (
                SELECT group_key.1 AS is_overall, group_key.2 AS breakdown_value, count() AS entered, [{counts}] AS counts{gaps}
                FROM
                (
                    SELECT arrayJoin({groups}) AS group_key, [{times}] AS step_times
                    FROM
                    (
                        SELECT {chain}
                        FROM
                        (
                            SELECT actor_id{candidates}
                            FROM {events}
                            WHERE actor_id != ''
                            GROUP BY actor_id
                            HAVING notEmpty(candidates_1)
                        )
                    )
                )
                GROUP BY is_overall, breakdown_value
            )
            ORDER BY is_overall DESC, entered DESC, breakdown_value
            LIMIT {MetricsSql.Int(options.Value.MaxBreakdownValues)} BY is_overall
            """;
    }

    private static List<FunnelStepResult> Results(FunnelRequest request, FunnelRow? row) =>
        request.Steps.Select((step, i) =>
        {
            var count = row?.Counts[i] ?? 0;
            var first = row?.Counts[0] ?? 0;
            var previous = i == 0 ? count : row?.Counts[i - 1] ?? 0;
            var median = i > 0 && count > 0;
            return new FunnelStepResult(i + 1, step.Event, count, Fraction(count, first), Fraction(count, previous),
                median ? row!.MedianPrevious[i] : null, median ? row!.MedianFirst[i] : null);
        }).ToList();

    private static double Fraction(long part, long whole) => whole == 0 ? 0 : (double)part / whole;

    public sealed record FunnelRow(int IsOverall, string BreakdownValue, long Entered, long[] Counts, double[] MedianPrevious, double[] MedianFirst);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(FunnelQuery.FunnelRow))]
internal sealed partial class FunnelJsonContext : JsonSerializerContext;
