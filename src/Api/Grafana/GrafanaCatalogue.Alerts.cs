using Api.Alerts;

namespace Api.Grafana;

/// <summary>
/// Alert thresholds as lines: a dashboard panel adds an <c>alert_thresholds</c> target naming the alert metric it plots, and
/// shows the caller's rules (and the platform's) on it, one flat series per rule at its threshold. Percentage rules
/// (drop_pct, rise_pct) have no fixed line: their threshold moves with the baseline, so only above/below rules are drawn.
/// </summary>
public static partial class GrafanaCatalogue
{
    private static async Task<IReadOnlyList<object>> AlertThresholdsAsync(GrafanaTargetContext target)
    {
        var metric = target.Payload.One("metric") ?? "";
        var rules = (await target.Service<AlertStore>().VisibleToAsync(target.Scope.TenantId, target.CancellationToken))
            .Where(r => r.Metric == metric && !AlertConditions.IsComparison(r.Condition))
            .ToList();
        if (target.AsTable)
        {
            return [GrafanaFrames.Table(
                [GrafanaFrames.Text("rule"), GrafanaFrames.Text("window"), GrafanaFrames.Text("condition"), GrafanaFrames.Number("threshold"), GrafanaFrames.Text("state")],
                rules.Select(r => new object?[] { r.Name, r.Window, r.Condition, r.Threshold, r.State.Status }))];
        }

        if (rules.Count == 0)
        {
            return [GrafanaFrames.Series($"no alert rules on {metric}", [])];
        }

        return rules.Select(r => (object)GrafanaFrames.Series(
            $"alert: {r.Name} ({(r.Window is { } w ? w + " " : "")}{r.Condition} {r.Threshold})",
            [(target.Range.From, r.Threshold), (target.Range.To, r.Threshold)])).ToList();
    }
}
