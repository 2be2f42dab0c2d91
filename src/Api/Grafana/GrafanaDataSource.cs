using System.Security.Claims;
using System.Text.Json.Nodes;
using Api.Querying;

namespace Api.Grafana;

/// <summary>
/// The JSON data source protocol over the metric catalogue: reads each body, answers for the caller's
/// tenant only. Range, targets, payloads and ad-hoc filters are validated here, once for every metric.
/// </summary>
public sealed class GrafanaDataSource(MetricsContext metrics, GrafanaVocabulary vocabulary, IServiceProvider services)
{
    private const int MaxTargets = 20;

    public GrafanaStatus Status() =>
        new("ok", GrafanaCatalogue.Metrics.Select(m => m.Name).ToList());

    public IReadOnlyList<GrafanaMetricInfo> Metrics() => GrafanaCatalogue.Metrics.Select(m => m.Info).ToList();

    /// <summary>The choices of a select payload: its fixed options, or the tenant's recent values of its dimension.</summary>
    public async Task<IReadOnlyList<GrafanaOption>> PayloadOptionsAsync(ClaimsPrincipal user, JsonObject body, CancellationToken cancellationToken)
    {
        var metric = GrafanaCatalogue.Find("metric", GrafanaBody.String(body, "metric", "metric"));
        var name = GrafanaBody.String(body, "name", "name");
        var payload = metric.Payloads.FirstOrDefault(p => p.Name == name)
            ?? throw new BadQueryException("name", "Unknown payload field", $"Metric '{metric.Name}' takes the payload fields {string.Join(", ", metric.Payloads.Select(p => p.Name))}.");
        if (payload.Vocabulary is null)
        {
            return payload.Options ?? [];
        }

        var scope = await metrics.ScopeAsync(user, cancellationToken);
        var values = await vocabulary.ValuesAsync(scope, Dimension.Parse("name", payload.Vocabulary), cancellationToken);
        return values.Select(v => new GrafanaOption(v, v)).ToList();
    }

    /// <summary>Runs every visible target; each may answer several frames, in target order.</summary>
    public async Task<IReadOnlyList<object>> QueryAsync(ClaimsPrincipal user, JsonObject body, CancellationToken cancellationToken)
    {
        var targets = (GrafanaBody.Array(body, "targets", "targets") ?? [])
            .Select(t => t as JsonObject ?? throw new BadQueryException("targets", "Bad target", "A target is an object {refId, target, payload}."))
            .Where(t => !GrafanaBody.Flag(t, "hide") && t["target"] is not null)
            .ToList();
        if (targets.Count > MaxTargets)
        {
            throw new BadQueryException("targets", "Too many targets", $"A query may have at most {MaxTargets} targets.");
        }

        // Range, filters, metrics and payload shapes are checked before the first query runs.
        var scope = await metrics.ScopeAsync(user, cancellationToken);
        var range = Range(body, scope);
        var interval = AutoInterval(GrafanaBody.Number(body, "intervalMs", "intervalMs", 0, long.MaxValue / 2) ?? 0, range);
        var filters = GrafanaAdhocFilters.Parse(body, metrics.Options.Value.MaxFilters);
        var runs = targets.Select(t =>
        {
            var metric = GrafanaCatalogue.Find("target", GrafanaBody.String(t, "target", "target"));
            var payload = GrafanaPayloadValues.Parse(t["payload"], metric);
            return (metric, context: new GrafanaTargetContext(scope, range, interval, payload, filters, metrics, services, cancellationToken));
        }).ToList();

        var frames = new List<object>();
        foreach (var (metric, context) in runs)
        {
            frames.AddRange(await metric.RunAsync(context));
        }

        return frames;
    }

    /// <summary>A template variable's values: payload.target names the list (<see cref="GrafanaVocabulary.Variables"/>).</summary>
    public async Task<IReadOnlyList<GrafanaVariableValue>> VariableAsync(ClaimsPrincipal user, JsonObject body, CancellationToken cancellationToken)
    {
        var payload = body["payload"] switch
        {
            JsonObject o => o,
            JsonValue v when v.TryGetValue<string>(out var text) => new JsonObject { ["target"] = text },
            _ => throw new BadQueryException("payload", "Bad variable", "A variable's payload is {\"target\": \"events\"}."),
        };
        var target = GrafanaBody.String(payload, "target", "payload.target");
        if (target is null || !GrafanaVocabulary.Variables.TryGetValue(target, out var dimension))
        {
            throw new BadQueryException("payload.target", "Unknown variable", $"A variable lists one of {string.Join(", ", GrafanaVocabulary.Variables.Keys)}.");
        }

        var scope = await metrics.ScopeAsync(user, cancellationToken);
        var values = await vocabulary.ValuesAsync(scope, Dimension.Parse("payload.target", dimension), cancellationToken);
        return values.Select(v => new GrafanaVariableValue(v, v)).ToList();
    }

    public IReadOnlyList<GrafanaTagKey> TagKeys() => Dimension.Columns.Concat(Dimension.UserColumns.Keys).Select(c => new GrafanaTagKey("string", c)).ToList();

    public async Task<IReadOnlyList<GrafanaTagValue>> TagValuesAsync(ClaimsPrincipal user, JsonObject body, CancellationToken cancellationToken)
    {
        var dimension = Dimension.Parse("key", GrafanaBody.String(body, "key", "key"));
        var scope = await metrics.ScopeAsync(user, cancellationToken);
        var values = await vocabulary.ValuesAsync(scope, dimension, cancellationToken);
        return values.Select(v => new GrafanaTagValue(v)).ToList();
    }

    /// <summary>range.from/to as ISO instants (Grafana sends them in UTC); days and weeks follow the tenant's zone.</summary>
    private TimeRange Range(JsonObject body, TenantScope scope)
    {
        var range = GrafanaBody.Object(body, "range", "range");
        var from = range is null ? null : GrafanaBody.String(range, "from", "from");
        var to = range is null ? null : GrafanaBody.String(range, "to", "to");
        if (string.IsNullOrEmpty(from) || string.IsNullOrEmpty(to))
        {
            throw new BadQueryException("range", "Bad time range", "'range' with from and to (ISO instants) is required.");
        }

        return metrics.Range(scope, from, to, null, TimeSpan.FromDays(1));
    }

    /// <summary>The finest interval at least as wide as Grafana's intervalMs whose buckets fit the limit.</summary>
    private Interval AutoInterval(long intervalMs, TimeRange range)
    {
        foreach (var (interval, width) in new[] { (Interval.Minute, TimeSpan.FromMinutes(1)), (Interval.Hour, TimeSpan.FromHours(1)), (Interval.Day, TimeSpan.FromDays(1)) })
        {
            if (width.TotalMilliseconds >= intervalMs && (range.To - range.From) / width <= metrics.Options.Value.MaxBuckets)
            {
                return interval;
            }
        }

        return Interval.Week;
    }
}
