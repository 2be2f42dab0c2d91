using Api.Querying;

namespace Api.Grafana;

/// <summary>
/// One metric of the data source: its name (the target), its editor fields, and a handler that builds
/// the shared request record from the target, calls the shared query class and shapes the answer
/// as Grafana frames (<see cref="GrafanaTimeSeries"/> or <see cref="GrafanaTable"/>).
/// </summary>
public sealed record GrafanaMetric(
    string Name,
    string Label,
    IReadOnlyList<GrafanaPayload> Payloads,
    Func<GrafanaTargetContext, Task<IReadOnlyList<object>>> RunAsync)
{
    public GrafanaMetricInfo Info => new(Label, Name, Payloads.Select(p => p.Info).ToList());
}

/// <summary>Everything a metric's handler gets for one target of a <c>/query</c> request.</summary>
public sealed record GrafanaTargetContext(
    TenantScope Scope,
    TimeRange Range,
    Interval AutoInterval,
    GrafanaPayloadValues Payload,
    IReadOnlyList<EventFilter> Filters,
    MetricsContext Metrics,
    IServiceProvider Services,
    CancellationToken CancellationToken)
{
    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();

    /// <summary>The interval a payload field names, else the one Grafana's intervalMs suggests; refused when it makes too many buckets.</summary>
    public Interval Interval(string field)
    {
        var chosen = Payload.One(field) is { } name && name != "auto" ? Intervals.Parse(name, AutoInterval) : AutoInterval;
        chosen.EnsureBuckets(Range, Metrics.Options.Value.MaxBuckets);
        return chosen;
    }

    /// <summary>A dimension a payload field names (a breakdown), or null when it is not set or "none".</summary>
    public Dimension? Dimension(string field) =>
        Payload.One(field) is { } name && name != "none" ? Querying.Dimension.Parse("payload." + field, name) : null;

    /// <summary>A multi-select payload field naming a dimension's values as a filter (none when empty: "All" is sent as []).</summary>
    public IEnumerable<EventFilter> InFilter(string field) =>
        Payload.All(field) is { Count: > 0 } values ? [EventFilter.Create("payload." + field, field, "in", values)] : [];

    public bool AsTable => Payload.One(GrafanaCatalogue.Format.Name) == "table";
}

/// <summary>Builds Grafana frames.</summary>
public static class GrafanaFrames
{
    public static GrafanaTimeSeries Series(string target, IEnumerable<(DateTimeOffset Time, double Value)> points) =>
        new(target, points.OrderBy(p => p.Time).Select(p => new[] { p.Value, p.Time.ToUnixTimeMilliseconds() }).ToList());

    public static GrafanaTable Table(IReadOnlyList<GrafanaColumn> columns, IEnumerable<object?[]> rows) => new(columns, rows.ToList());

    public static GrafanaColumn Text(string name) => new(name, "string");

    public static GrafanaColumn Number(string name) => new(name, "number");

    public static GrafanaColumn Time(string name) => new(name, "time");
}
