using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;

namespace Api.Querying;

/// <summary>
/// Which of a tenant's event days a model's build may have missed: days with raw rows inserted after
/// the build started (less a clock margin), or too late for any incremental build. Read from
/// raw_event_days (a view on raw_events keeps each event day's newest inserted_at) per tenant, kept
/// for <see cref="ApiOptions.WatermarkCacheDuration"/>, and refreshed ahead of time by
/// <see cref="QueryMetadataRefresher"/> for tenants that asked recently, so answers stay exact to
/// within that time of an insert and a dashboard's requests do not wait for it.
/// </summary>
public sealed class LateArrivals(ClickHouseClient clickHouse, IOptions<ApiOptions> options, TimeProvider time)
{
    /// <summary>Events arriving this late (days after their time) are past every regular build: only a late-day repair (or a backfill) brings them in.</summary>
    public const int LateDays = 2;

    /// <summary>
    /// Rows stamped this long before a build may still have been invisible to it: inserted_at is the
    /// Ingestor's clock before its insert commits, started_at the Transformer's.
    /// </summary>
    public static readonly TimeSpan ClockMargin = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Inserts older than this are only looked at when they were too late for the regular builds: <see cref="ModelWatermarks"/>
    /// reads this many days of builds (and every repair), so any other insert has a build after it in what it read.
    /// </summary>
    public const int RecentDays = 3;

    private static readonly TimeSpan Recent = TimeSpan.FromDays(RecentDays);

    /// <summary>A tenant's days are refreshed in the background while it has asked within this time.</summary>
    private static readonly TimeSpan KeepWarm = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<string, TenantDays> _tenants = new(StringComparer.Ordinal);

    /// <summary>The tenant's days before the watermark's day with rows the build did not see, oldest first.</summary>
    public async Task<IReadOnlyList<DateOnly>> DaysAsync(string tenantId, ModelWatermark mark, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (!_tenants.TryGetValue(tenantId, out var tenant) || tenant.LoadedAt + options.Value.WatermarkCacheDuration <= now)
        {
            var loaded = await LoadAsync([tenantId], cancellationToken);
            tenant = new TenantDays(loaded.GetValueOrDefault(tenantId) ?? [], now);
            _tenants[tenantId] = tenant;
        }

        tenant.LastAsked = now;
        return Late(tenant.Days, mark);
    }

    /// <summary>Reloads the days of every tenant that asked recently, in one query; forgets the others.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var (tenantId, days) in _tenants)
        {
            if (days.LastAsked < now - KeepWarm)
            {
                _tenants.TryRemove(tenantId, out _);
            }
        }

        foreach (var chunk in _tenants.Keys.Chunk(1000))
        {
            var loaded = await LoadAsync(chunk, cancellationToken);
            foreach (var tenantId in chunk)
            {
                var lastAsked = _tenants.TryGetValue(tenantId, out var old) ? old.LastAsked : now;
                _tenants[tenantId] = new TenantDays(loaded.GetValueOrDefault(tenantId) ?? [], now) { LastAsked = lastAsked };
            }
        }
    }

    /// <summary>
    /// The rule itself, on the days loaded: an event day before the watermark's day whose newest rows the model does
    /// not hold yet (<see cref="ModelWatermark.Holds"/>): they arrived after the builds of the days they reach, say a
    /// late import before the Transformer repaired those days.
    /// </summary>
    internal static IReadOnlyList<DateOnly> Late(IReadOnlyList<DayInsert> days, ModelWatermark mark) =>
        days.Where(d => d.Day < mark.SettledBefore && !mark.Holds(d.Day, d.LastInserted)).Select(d => d.Day).Order().ToList();

    private async Task<Dictionary<string, List<DayInsert>>> LoadAsync(IReadOnlyCollection<string> tenants, CancellationToken cancellationToken)
    {
        var rows = await clickHouse.QueryAsync(
            $"""
            SELECT tenant_id, toString(event_date) AS day, toUInt32(max(last_inserted_at)) AS last_inserted
            FROM {ClickHouseSql.Table(clickHouse.Settings.Database, "raw_event_days")}
            WHERE tenant_id IN ({ClickHouseSql.List(tenants)})
            GROUP BY tenant_id, event_date
            HAVING last_inserted >= toUInt32({MetricsSql.Instant(time.GetUtcNow() - Recent)}) OR event_date + {LateDays} < toDate(toDateTime(last_inserted, 'UTC'))
            """,
            LateArrivalsJsonContext.Default.Row, new ClickHouseQueryOptions { Readonly = true, MaxExecutionTime = options.Value.MaxExecutionTime }, cancellationToken);
        return rows.GroupBy(r => r.TenantId, StringComparer.Ordinal).ToDictionary(
            g => g.Key,
            g => g.Select(r => new DayInsert(DateOnly.ParseExact(r.Day, "yyyy-MM-dd", CultureInfo.InvariantCulture), DateTimeOffset.FromUnixTimeSeconds(r.LastInserted))).ToList(),
            StringComparer.Ordinal);
    }

    /// <summary>An event day and the newest insert of a row for it.</summary>
    internal sealed record DayInsert(DateOnly Day, DateTimeOffset LastInserted);

    private sealed record TenantDays(IReadOnlyList<DayInsert> Days, DateTimeOffset LoadedAt)
    {
        public DateTimeOffset LastAsked { get; set; }
    }

    public sealed record Row(string TenantId, string Day, long LastInserted);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(LateArrivals.Row))]
internal sealed partial class LateArrivalsJsonContext : JsonSerializerContext;
