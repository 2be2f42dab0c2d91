using System.Text.Json.Serialization;
using Api.Metrics;
using Api.Querying;

namespace Api.Grafana;

/// <summary>One bucket of the tenant's deliveries: rows inserted into raw_events in it, and their mean ingest lag (null when none).</summary>
public sealed record PipelineBucket(DateTimeOffset Start, TimeSpan Width, long Rows, double? MeanLagSeconds);

/// <summary>
/// The caller's deliveries per bucket of their insert time (inserted_at, the Ingestor's clock): how many
/// rows reached raw_events and their mean inserted_at - received_at (Collector accept to insert, whole
/// seconds at both ends). Every delivered copy is a row, as it is a row the pipeline carried.
/// </summary>
public sealed class GrafanaPipelineSeries(TenantSources sources, MetricsQueryRunner runner)
{
    public async Task<IReadOnlyList<PipelineBucket>> RunAsync(TenantScope scope, TimeRange range, Interval interval, CancellationToken cancellationToken)
    {
        var where = $"inserted_at >= {MetricsSql.Instant(range.From)} AND inserted_at < {MetricsSql.Instant(range.To)}";
        var sql = $"""
            SELECT {MetricsSql.BucketStart(interval, "inserted_at", range.TimeZone)} AS bucket, count() AS inserted_rows,
                   sum(toInt64(inserted_at) - toInt64(received_at)) AS lag_sum
            FROM {sources.Model(scope, "raw_events", where)}
            GROUP BY bucket
            """;
        var rows = (await runner.QueryAsync(sql, GrafanaPipelineJsonContext.Default.BucketRow, cancellationToken)).ToDictionary(r => r.Bucket);

        // Every bucket of the range, so the rate has explicit zeros; a bucket's width is up to the next one's start.
        var starts = TrendsQuery.Buckets(range, interval);
        return starts.Select((start, i) =>
        {
            var end = i + 1 < starts.Count ? starts[i + 1] : start + Nominal(interval);
            var row = rows.GetValueOrDefault(start.ToUnixTimeSeconds());
            return new PipelineBucket(start, end - start, row?.InsertedRows ?? 0, row is { InsertedRows: > 0 } r ? (double)r.LagSum / r.InsertedRows : null);
        }).ToList();
    }

    private static TimeSpan Nominal(Interval interval) => interval switch
    {
        Interval.Minute => TimeSpan.FromMinutes(1),
        Interval.Hour => TimeSpan.FromHours(1),
        Interval.Day => TimeSpan.FromDays(1),
        _ => TimeSpan.FromDays(7),
    };

    public sealed record BucketRow(long Bucket, long InsertedRows, long LagSum);
}

/// <summary>ClickHouse sends 64-bit integers as JSON strings.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(GrafanaPipelineSeries.BucketRow))]
internal sealed partial class GrafanaPipelineJsonContext : JsonSerializerContext;
