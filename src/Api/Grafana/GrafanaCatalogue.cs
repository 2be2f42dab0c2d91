using Api.Metrics;
using Api.Querying;

namespace Api.Grafana;

/// <summary>
/// The data source's metrics, one entry each: add a metric by adding an entry to <see cref="Metrics"/>
/// (and removing its name from <see cref="PlannedMetrics"/>). A handler only translates: payload ->
/// the shared request record -> the shared query class -> frames.
/// </summary>
public static class GrafanaCatalogue
{
    /// <summary>Every metric may answer as a table instead of time series.</summary>
    public static readonly GrafanaPayload Format = GrafanaPayload.Choice("format", "Format", "time_series", "table");

    public static readonly GrafanaPayload IntervalChoice = GrafanaPayload.Choice("interval", "Interval", "auto", "minute", "hour", "day", "week");

    public static readonly GrafanaPayload Breakdown = GrafanaPayload.Choice("breakdown", "Breakdown", ["none", .. Dimension.Columns]);

    public static readonly IReadOnlyList<GrafanaMetric> Metrics =
    [
        new("events", "Events (trends)",
            [
                new("event", "Events", GrafanaPayloadType.MultiSelect, Vocabulary: "event_name", Placeholder: "all events"),
                new("country", "Countries", GrafanaPayloadType.MultiSelect, Vocabulary: "country", Placeholder: "all countries"),
                GrafanaPayload.Choice("measure", "Measure", "count", "users"),
                Breakdown,
                IntervalChoice,
                Format,
            ],
            EventsAsync),
    ];

    /// <summary>
    /// Metrics the dashboards in deploy/grafana already use whose query classes are not merged yet.
    /// Delete each name when its entry is added above; delete the list when it is empty.
    /// </summary>
    public static readonly IReadOnlyList<string> PlannedMetrics =
    [
        "active_users", "funnel", "retention", "session_lengths", "feature_adoption",
        "pipeline_ingest_lag", "pipeline_consumer_lag", "pipeline_insert_rate", "pipeline_error_rate", "pipeline_transform_runs",
    ];

    public static GrafanaMetric Find(string parameter, string? name) =>
        Metrics.FirstOrDefault(m => m.Name == name)
        ?? throw new BadQueryException(parameter, "Unknown metric",
            $"'{GrafanaPayloadValues.Printable(name ?? "")}' is not a metric; POST /grafana/metrics lists them ({string.Join(", ", Metrics.Select(m => m.Name))}).");

    /// <summary>Trends: one series per event (all events as one when none is picked) and breakdown value; as a table, one row per series with its total.</summary>
    private static async Task<IReadOnlyList<object>> EventsAsync(GrafanaTargetContext target)
    {
        var measure = target.Payload.One("measure") == "users" ? TrendMeasure.Users : TrendMeasure.Count;
        var request = new TrendsRequest(
            target.Range,
            target.Interval("interval"),
            measure,
            target.Metrics.EventList("payload.event", target.Payload.All("event").ToArray()),
            target.Filters.Concat(target.InFilter("country")).ToList(),
            target.Dimension("breakdown"),
            QuerySource.Auto);
        var response = await target.Service<TrendsQuery>().RunAsync(target.Scope, request, target.CancellationToken);

        string Name(TrendSeries s) => string.Join(" ", new[] { s.Event, s.Breakdown is null ? null : s.Breakdown.Length == 0 ? "(none)" : s.Breakdown }.Where(p => p is not null))
            is { Length: > 0 } name ? name : response.Measure == "users" ? "users" : "events";

        if (target.AsTable)
        {
            return [GrafanaFrames.Table(
                [GrafanaFrames.Text(request.Breakdown?.Name ?? "series"), GrafanaFrames.Number(response.Measure)],
                response.Series.Select(s => new object?[] { Name(s), s.Total }))];
        }

        return response.Series.Select(s => (object)GrafanaFrames.Series(Name(s), s.Points.Select(p => (p.Time, (double)p.Value)))).ToList();
    }
}
