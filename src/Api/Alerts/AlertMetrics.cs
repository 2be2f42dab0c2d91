namespace Api.Alerts;

/// <summary>Whose data a metric reads: one tenant's (a product rule) or the platform's (an operator's rule).</summary>
public enum AlertScope
{
    Tenant,
    Platform,
}

/// <summary>
/// A metric rules may watch: its unit, the thresholds that make sense for it, the windows it is read over, and
/// whether it can be compared with the same window a day or a week earlier. The evaluator reads each one
/// (<see cref="AlertMetricReader"/>); a test checks that every entry here has a reader.
/// </summary>
/// <param name="Windows">Named windows (<c>day</c>, <c>week</c>, <c>month</c>), or empty when the window is a duration
/// between <paramref name="MinWindow"/> and <paramref name="MaxWindow"/>; platform metrics are read as they are now and take none.</param>
public sealed record AlertMetric(
    string Name, AlertScope Scope, string Unit, double MaxThreshold, bool Comparable, string Description,
    IReadOnlyList<string> Windows, TimeSpan? MinWindow = null, TimeSpan? MaxWindow = null, bool TakesEventName = false)
{
    public bool TakesDuration => MinWindow is not null;

    public bool TakesWindow => Windows.Count > 0 || TakesDuration;
}

public static class AlertMetrics
{
    private const double Seconds30Days = 30 * 86_400;

    public static readonly IReadOnlyList<AlertMetric> All =
    [
        new("active_users", AlertScope.Tenant, "users", 1e12, Comparable: true,
            "Distinct users of the last complete local day (window day: DAU), or of the 7 or 30 days ending with it (week: WAU, month: MAU).",
            ["day", "week", "month"]),
        new("events", AlertScope.Tenant, "events", 1e12, Comparable: true,
            "Distinct events (optionally of one name) over the trailing window, in whole minutes.",
            [], MinWindow: TimeSpan.FromMinutes(1), MaxWindow: TimeSpan.FromDays(3), TakesEventName: true),
        new("ingest_lag_seconds", AlertScope.Platform, "seconds", Seconds30Days, Comparable: false,
            "Age of the oldest acknowledged event the Ingestor has not stored yet (read from Kafka; 0 when none waits). Grows while the Ingestor is down.",
            []),
        new("consumer_lag", AlertScope.Platform, "records", 1e12, Comparable: false,
            "Records on the events topic the Ingestor's consumer group has not committed.", []),
        new("cdc_replication_lag_bytes", AlertScope.Platform, "bytes", 1e15, Comparable: false,
            "WAL bytes between PostgreSQL's position and what the CDC bridge applied to ClickHouse.", []),
        new("cdc_apply_lag_seconds", AlertScope.Platform, "seconds", Seconds30Days, Comparable: false,
            "Seconds between a replicated change's commit in PostgreSQL and its apply in ClickHouse.", []),
        new("insert_failure_pct", AlertScope.Platform, "percent", 100, Comparable: false,
            "Dead-lettered records (ClickHouse refusals included) per 100 consumed, since the Ingestor started.", []),
        new("max_active_parts", AlertScope.Platform, "parts", 1e6, Comparable: false,
            "Active parts of the platform's busiest ClickHouse table (merges falling behind).", []),
        new("pending_mutations", AlertScope.Platform, "mutations", 1e6, Comparable: false,
            "Unfinished ClickHouse mutations in the platform's database (retention deletes, repairs).", []),
        new("disk_used_pct", AlertScope.Platform, "percent", 100, Comparable: false,
            "Used share of the file system that holds ClickHouse's data.", []),
    ];

    public static AlertMetric? Find(string? name) => All.FirstOrDefault(m => m.Name == name);

    public static string Names(AlertScope scope) => string.Join(", ", All.Where(m => m.Scope == scope).Select(m => m.Name));
}
