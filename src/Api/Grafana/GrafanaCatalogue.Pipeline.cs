using Api.Metrics;

namespace Api.Grafana;

/// <summary>
/// The pipeline metrics' handlers: ingest lag and insert rate are real series of the caller's own
/// deliveries (<see cref="GrafanaPipelineSeries"/>); consumer lag, dead-lettered events and transform
/// runs are the platform's state now (<see cref="PipelineHealthQuery"/>), which keeps no history: one datapoint at now.
/// </summary>
public static partial class GrafanaCatalogue
{
    /// <summary>Mean seconds from Collector accept to raw_events insert of the tenant's rows inserted in each bucket; no point for a bucket without rows.</summary>
    private static Task<IReadOnlyList<object>> IngestLagAsync(GrafanaTargetContext target) =>
        PipelineSeriesAsync(target, "ingest lag (s)", b => b.MeanLagSeconds);

    /// <summary>Rows of the tenant inserted into raw_events per second, averaged over each bucket.</summary>
    private static Task<IReadOnlyList<object>> InsertRateAsync(GrafanaTargetContext target) =>
        PipelineSeriesAsync(target, "rows/s", b => b.Rows / b.Width.TotalSeconds);

    private static async Task<IReadOnlyList<object>> PipelineSeriesAsync(GrafanaTargetContext target, string name, Func<PipelineBucket, double?> value)
    {
        var buckets = await target.Service<GrafanaPipelineSeries>().RunAsync(target.Scope, target.Range, target.Interval("interval"), target.CancellationToken);
        var points = buckets.Select(b => (b.Start, Value: value(b))).Where(p => p.Value is not null).Select(p => (p.Start, p.Value!.Value)).ToList();
        if (target.AsTable)
        {
            return [GrafanaFrames.Table([GrafanaFrames.Time("time"), GrafanaFrames.Number(name)],
                points.Select(p => new object?[] { p.Start.ToUnixTimeMilliseconds(), p.Value }))];
        }

        return [GrafanaFrames.Series(name, points)];
    }

    /// <summary>The Ingestor's last sampled Kafka consumer lag (all partitions), at now; no datapoint when the Ingestor cannot be read.</summary>
    private static async Task<IReadOnlyList<object>> ConsumerLagAsync(GrafanaTargetContext target)
    {
        var (now, health) = await HealthAsync(target);
        return PointNow(target, "consumer lag", now, health.Platform.ConsumerLag.TotalLag, health.Platform.ConsumerLag.Error);
    }

    /// <summary>Events the Ingestor dead-lettered since it started (a counter, platform-wide), at now.</summary>
    private static async Task<IReadOnlyList<object>> DeadLetteredAsync(GrafanaTargetContext target)
    {
        var (now, health) = await HealthAsync(target);
        return PointNow(target, "dead-lettered since Ingestor start", now, health.Platform.ConsumerLag.Counters?.DeadLettered, health.Platform.ConsumerLag.Error);
    }

    /// <summary>The Transformer's latest run per model (last 30 days): always a table.</summary>
    private static async Task<IReadOnlyList<object>> TransformRunsAsync(GrafanaTargetContext target)
    {
        var (_, health) = await HealthAsync(target);
        return [GrafanaFrames.Table(
            [
                GrafanaFrames.Text("model"), GrafanaFrames.Text("status"), GrafanaFrames.Time("started"),
                GrafanaFrames.Number("duration ms"), GrafanaFrames.Number("rows"), GrafanaFrames.Text("error"),
            ],
            health.Platform.TransformRuns.Select(r => new object?[] { r.Model, r.Status, r.StartedAt.ToUnixTimeMilliseconds(), r.DurationMs, r.Rows, r.Error }))];
    }

    private static async Task<(DateTimeOffset Now, PipelineHealthResponse Health)> HealthAsync(GrafanaTargetContext target)
    {
        var health = await target.Service<PipelineHealthQuery>().RunAsync(target.Scope, target.CancellationToken);
        return (health.CheckedAt, health);
    }

    private static IReadOnlyList<object> PointNow(GrafanaTargetContext target, string name, DateTimeOffset now, long? value, string? error)
    {
        if (target.AsTable)
        {
            return [GrafanaFrames.Table([GrafanaFrames.Time("time"), GrafanaFrames.Number(name), GrafanaFrames.Text("error")],
                [[now.ToUnixTimeMilliseconds(), value, value is null ? error : null]])];
        }

        return [GrafanaFrames.Series(name, value is { } v ? [(now, (double)v)] : [])];
    }
}
