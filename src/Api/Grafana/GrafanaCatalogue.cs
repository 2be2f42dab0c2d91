using Api.Metrics;
using Api.Querying;

namespace Api.Grafana;

/// <summary>
/// The data source's metrics, one entry each: add a metric by adding an entry to <see cref="Metrics"/>.
/// A handler only translates: payload -> the shared request record -> the shared query class -> frames.
/// Product metrics' handlers are in GrafanaCatalogue.Product.cs, the pipeline's in GrafanaCatalogue.Pipeline.cs.
/// </summary>
public static partial class GrafanaCatalogue
{
    // Every static field is declared in this file: field initializers of partial files run in an unspecified order.

    /// <summary>Every metric may answer as a table instead of time series.</summary>
    public static readonly GrafanaPayload Format = GrafanaPayload.Choice("format", "Format", "time_series", "table");

    public static readonly GrafanaPayload IntervalChoice = GrafanaPayload.Choice("interval", "Interval", "auto", "minute", "hour", "day", "week");

    public static readonly GrafanaPayload Breakdown = GrafanaPayload.Choice("breakdown", "Breakdown", ["none", .. Dimension.Columns, .. Dimension.UserColumns.Keys]);

    /// <summary>The funnel's conversion windows, in payload order.</summary>
    private static readonly IReadOnlyDictionary<string, TimeSpan> FunnelWindows = new Dictionary<string, TimeSpan>(StringComparer.Ordinal)
    {
        ["1h"] = TimeSpan.FromHours(1),
        ["1d"] = TimeSpan.FromDays(1),
        ["7d"] = TimeSpan.FromDays(7),
        ["30d"] = TimeSpan.FromDays(30),
    };

    private static GrafanaPayload EventSelect(string name, string label, string placeholder) =>
        new(name, label, GrafanaPayloadType.Select, Vocabulary: "event_name", Placeholder: placeholder);

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
        new("active_users", "Active users (DAU / WAU / MAU)",
            [GrafanaPayload.Choice("window", "Window", "all", "dau", "wau", "mau"), Breakdown, Format],
            ActiveUsersAsync),
        new("funnel", "Funnel",
            [
                new("steps", "Steps (in order)", GrafanaPayloadType.MultiSelect, Vocabulary: "event_name", Placeholder: "2 or more events"),
                new("window", "Conversion window", GrafanaPayloadType.Select, FunnelWindows.Keys.Select(k => new GrafanaOption(k, k)).ToList(), Placeholder: "1d"),
                Breakdown,
                Format,
            ],
            FunnelAsync),
        new("retention", "Retention cohorts",
            [
                EventSelect("cohort_event", "Cohort event", "any event"),
                EventSelect("return_event", "Return event", "any event"),
                GrafanaPayload.Choice("grain", "Grain", "day", "week"),
                new("periods", "Periods", GrafanaPayloadType.Input, Placeholder: "8"),
                Format,
            ],
            RetentionAsync),
        new("session_lengths", "Session lengths",
            [GrafanaPayload.Choice("breakdown", "Breakdown", "none", "country", "device"), Format],
            SessionLengthsAsync),
        new("feature_adoption", "Feature adoption",
            [EventSelect("feature", "Feature (event)", "required"), Format],
            FeatureAdoptionAsync),
        new("pipeline_ingest_lag", "Pipeline: ingest lag (s)", [IntervalChoice, Format], IngestLagAsync),
        new("pipeline_insert_rate", "Pipeline: insert rate (rows/s)", [IntervalChoice, Format], InsertRateAsync),
        new("pipeline_consumer_lag", "Pipeline: Kafka consumer lag (now)", [Format], ConsumerLagAsync),
        new("pipeline_error_rate", "Pipeline: dead-lettered since the Ingestor started (now)", [Format], DeadLetteredAsync),
        new("pipeline_transform_runs", "Pipeline: last Transformer run per model", [Format], TransformRunsAsync),
        new("alert_thresholds", "Alert thresholds (the rules on a metric, as lines)",
            [GrafanaPayload.Choice("metric", "Alert metric", [.. Alerts.AlertMetrics.All.Select(m => m.Name)]), Format],
            AlertThresholdsAsync),
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

    /// <summary>A breakdown value as a series or row label: the empty value is "(none)".</summary>
    private static string Label(string? value) => value is null ? "" : value.Length == 0 ? "(none)" : value;
}
