using System.Globalization;
using System.Text.Json.Serialization;
using Api.Metrics;
using Api.Querying;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;
using Platform.Tenancy;

namespace Api.Alerts;

/// <summary>A metric could not be read now (a dependency down, CDC off); the rule keeps its state and records why.</summary>
public sealed class AlertReadException(string message) : Exception(message);

/// <summary>
/// Reads a rule's metric with the Api's own queries: tenant metrics through <see cref="ActiveUsersQuery"/> and
/// <see cref="TrendsQuery"/> in the tenant's scope (so a rule sees exactly what its tenant's dashboards show), platform
/// metrics from Kafka, the Ingestor's status and ClickHouse's system tables, as pipeline health reads them.
/// </summary>
public sealed class AlertMetricReader(
    TenantDirectory tenants, ActiveUsersQuery activeUsers, TrendsQuery trends, PipelineHealthQuery pipeline, IngestLagReader ingestLag,
    MetricsQueryRunner runner, ClickHouseClient clickHouse, IOptions<AlertOptions> options, TimeProvider time)
{
    // Several platform rules read the same source; the rules of one tick read each once.
    private readonly SharedReading<IngestLag> _ingestLag = new(ingestLag.ReadAsync, options.Value.Tick / 2, options.Value.EvaluationTimeout, time);
    private readonly SharedReading<ClickHouseHealth> _clickHouseHealth = new(pipeline.ClickHouseAsync, options.Value.Tick / 2, options.Value.EvaluationTimeout, time);
    private readonly SharedReading<(PipelineHealthQuery.IngestorStatus? Status, string? Error)> _ingestorStatus =
        new(pipeline.IngestorStatusAsync, options.Value.Tick / 2, options.Value.EvaluationTimeout, time);

    /// <summary>The metrics this reader knows; every catalogue entry must be one (checked by a test).</summary>
    public static readonly IReadOnlySet<string> Readable = new HashSet<string>(StringComparer.Ordinal)
    {
        "active_users", "events", "ingest_lag_seconds", "consumer_lag", "cdc_replication_lag_bytes", "cdc_apply_lag_seconds",
        "insert_failure_pct", "max_active_parts", "pending_mutations", "disk_used_pct",
    };

    private const string PipelineHealthPath = "/v1/pipeline/health";

    public async Task<AlertReading> ReadAsync(AlertRule rule, DateTimeOffset now, CancellationToken cancellationToken) => rule.Metric switch
    {
        "active_users" => await ActiveUsersAsync(rule, await ScopeAsync(rule, cancellationToken), now, cancellationToken),
        "events" => await EventsAsync(rule, await ScopeAsync(rule, cancellationToken), now, cancellationToken),
        "ingest_lag_seconds" => new((await _ingestLag.GetAsync(cancellationToken)).OldestAgeSeconds, null, PipelineHealthPath),
        "consumer_lag" => new((await _ingestLag.GetAsync(cancellationToken)).RecordsBehind, null, PipelineHealthPath),
        "cdc_replication_lag_bytes" => new(await CdcAsync(c => c.ReplicationLagBytes, cancellationToken), null, PipelineHealthPath),
        "cdc_apply_lag_seconds" => new(await CdcAsync(c => c.ApplyLagSeconds, cancellationToken), null, PipelineHealthPath),
        "insert_failure_pct" => new(await InsertFailurePctAsync(cancellationToken), null, PipelineHealthPath),
        "max_active_parts" => new((await _clickHouseHealth.GetAsync(cancellationToken)).Tables.Select(t => t.ActiveParts).DefaultIfEmpty(0).Max(), null, PipelineHealthPath),
        "pending_mutations" => new((await _clickHouseHealth.GetAsync(cancellationToken)).PendingMutations.Count, null, PipelineHealthPath),
        "disk_used_pct" => new(await DiskUsedPctAsync(cancellationToken), null, PipelineHealthPath),
        _ => throw new AlertReadException($"No reader for metric '{rule.Metric}'."),
    };

    private async Task<TenantScope> ScopeAsync(AlertRule rule, CancellationToken cancellationToken)
    {
        var profile = await tenants.GetIntakeProfileAsync(rule.TenantId!, cancellationToken)
            ?? throw new AlertReadException($"Tenant '{rule.TenantId}' does not exist any more.");
        var zone = profile.Settings.TimeZone is { } configured && TenantSettings.IsKnownTimeZone(configured) ? configured : "UTC";
        return new TenantScope(rule.TenantId!, zone);
    }

    /// <summary>DAU/WAU/MAU of the last complete local day, and of the day a day or a week before it.</summary>
    private async Task<AlertReading> ActiveUsersAsync(AlertRule rule, TenantScope scope, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var zone = scope.DefaultTimeZone;
        var today = TimeRange.LocalDate(now, zone);
        var day = today.AddDays(-1);
        DateOnly? baselineDay = rule.CompareTo is { } compareTo ? day.AddDays(-(int)AlertConditions.Offset(compareTo).TotalDays) : null;
        var first = baselineDay ?? day;
        var range = new TimeRange(TimeRange.LocalMidnight(first, zone), TimeRange.LocalMidnight(today, zone), zone);
        var answer = await activeUsers.RunAsync(scope, new ActiveUsersRequest(range, [], null, QuerySource.Auto), cancellationToken);
        var days = answer.Series.Single().Days.ToDictionary(d => d.Date);
        double Pick(DateOnly d) => days.TryGetValue(d, out var row) ? rule.Window switch { "week" => row.Wau, "month" => row.Mau, _ => row.Dau } : 0;
        return new AlertReading(Pick(day), baselineDay is { } b ? Pick(b) : null,
            $"/v1/active-users?from={Date(first)}&to={Date(today)}&tz={Uri.EscapeDataString(zone)}");
    }

    /// <summary>Events over the trailing window in whole minutes, and over the same window a day or a week earlier.</summary>
    private async Task<AlertReading> EventsAsync(AlertRule rule, TenantScope scope, DateTimeOffset now, CancellationToken cancellationToken)
    {
        AlertDurations.TryParse(rule.Window, out var window);
        var to = new DateTimeOffset(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerMinute, TimeSpan.Zero);
        var value = await CountEventsAsync(rule, scope, to - window, to, cancellationToken);
        double? baseline = rule.CompareTo is { } compareTo
            ? await CountEventsAsync(rule, scope, to - window - AlertConditions.Offset(compareTo), to - AlertConditions.Offset(compareTo), cancellationToken)
            : null;
        var eventPart = rule.EventName is { } name ? $"&event={Uri.EscapeDataString(name)}" : "";
        return new AlertReading(value, baseline,
            $"/v1/trends?measure=count&interval=minute&from={Uri.EscapeDataString(Instant(to - window))}&to={Uri.EscapeDataString(Instant(to))}{eventPart}");
    }

    private async Task<double> CountEventsAsync(AlertRule rule, TenantScope scope, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var request = new TrendsRequest(new TimeRange(from, to, "UTC"), Interval.Minute, TrendMeasure.Count, rule.EventName is { } name ? [name] : [], [], null, QuerySource.Auto);
        var answer = await trends.RunAsync(scope, request, cancellationToken);
        return answer.Series.Sum(s => s.Total);
    }

    private async Task<double> CdcAsync(Func<PipelineHealthQuery.IngestorCdcStatus, double?> pick, CancellationToken cancellationToken)
    {
        var (status, error) = await _ingestorStatus.GetAsync(cancellationToken);
        if (status?.Cdc is not { Enabled: true } cdc)
        {
            throw new AlertReadException(error ?? "The CDC bridge is not enabled on this platform.");
        }

        return pick(cdc) ?? throw new AlertReadException("The CDC bridge has not sampled its replication slot yet.");
    }

    private async Task<double> InsertFailurePctAsync(CancellationToken cancellationToken)
    {
        var (status, error) = await _ingestorStatus.GetAsync(cancellationToken);
        var counters = status?.Counters ?? throw new AlertReadException(error ?? "The Ingestor's status has no counters.");
        return counters.Consumed == 0 ? 0 : 100.0 * counters.DeadLettered / counters.Consumed;
    }

    /// <summary>
    /// Current releases report the data disk themselves (filesystemCapacity); 18.16 has no such function, so there the
    /// disk is measured where a part lives, which this Api can see only when ClickHouse runs on its host.
    /// </summary>
    private async Task<double> DiskUsedPctAsync(CancellationToken cancellationToken)
    {
        var functions = await runner.QueryAsync("SELECT toUInt64(count()) AS n FROM system.functions WHERE name = 'filesystemCapacity'",
            DiskJsonContext.Default.CountRow, cancellationToken);
        if (functions.Single().N > 0)
        {
            var row = (await runner.QueryAsync("SELECT filesystemCapacity() AS capacity, filesystemFree() AS free, filesystemAvailable() AS available",
                DiskJsonContext.Default.DiskRow, cancellationToken)).Single();
            return UsedPct(row.Capacity, row.Free, row.Available);
        }

        var parts = await runner.QueryAsync("SELECT any(path) AS path FROM system.parts WHERE active", DiskJsonContext.Default.PathRow, cancellationToken);
        var path = parts.SingleOrDefault()?.Path;
        if (!IsLoopback(clickHouse.Settings.Endpoint) || string.IsNullOrEmpty(path) || !Directory.Exists(path))
        {
            throw new AlertReadException("This ClickHouse cannot report its disk (no filesystemCapacity before 19.x), and its data is not on this Api's host to measure.");
        }

        var drive = new DriveInfo(path);
        return UsedPct(drive.TotalSize, drive.TotalFreeSpace, drive.AvailableFreeSpace);
    }

    /// <summary>As df counts it: used against what is used plus what ClickHouse may still write (blocks reserved for root left out).</summary>
    private static double UsedPct(long capacity, long free, long available)
    {
        var used = capacity - free;
        return used + available <= 0 ? 0 : 100.0 * used / (used + available);
    }

    private static bool IsLoopback(Uri endpoint) =>
        endpoint.IsLoopback || (System.Net.IPAddress.TryParse(endpoint.Host, out var address) && System.Net.IPAddress.IsLoopback(address));

    private static string Date(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string Instant(DateTimeOffset instant) => instant.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    public sealed record DiskRow(long Capacity, long Free, long Available);

    public sealed record CountRow(long N);

    public sealed record PathRow(string Path);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(AlertMetricReader.DiskRow))]
[JsonSerializable(typeof(AlertMetricReader.CountRow))]
[JsonSerializable(typeof(AlertMetricReader.PathRow))]
internal sealed partial class DiskJsonContext : JsonSerializerContext;
