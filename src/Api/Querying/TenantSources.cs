using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;

namespace Api.Querying;

/// <summary>A subquery of one tenant's events and the tables it reads.</summary>
public sealed record EventsSource(string Sql, IReadOnlyList<string> Tables);

/// <summary>
/// The one place the tenant predicate enters SQL. Every table an Api query reads is reached through
/// here, already narrowed to the caller's tenant and the query's time range:
/// <list type="bullet">
/// <item><see cref="EventsAsync"/>: the tenant's events, one row per event id, from stg_events for the
/// days the Transformer holds whole and from raw_events (deduplicated at query time, docs/events.md)
/// after that, so answers are exact whether or not the Transformer has caught up.</item>
/// <item>With <c>users</c>, those events carry the user and account dimensions (<see cref="Dimension.UserColumns"/>)
/// of the tenant's dim_users row of their user_id: '' for an event without one.</item>
/// <item><see cref="Rollup"/>: a rollup's rows for whole UTC days, for the days <see cref="RollupSettledBeforeAsync"/> allows.</item>
/// </list>
/// </summary>
public sealed class TenantSources(ClickHouseClient clickHouse, IOptions<ApiOptions> options, ModelWatermarks watermarks, IMemoryCache cache)
{
    /// <summary>The columns every events source has.</summary>
    public const string EventColumns =
        "event_id, event_type, event_name, user_id, anonymous_id, actor_id, session_id, event_time, received_at, properties, country, device, os, app_version, library, locale, page";

    /// <summary>Events arriving this late (days after their time) never reach the staging model without a backfill.</summary>
    private const int LateDays = 2;

    /// <summary>
    /// Rows stamped this long before a build may still have been invisible to it: inserted_at is the
    /// Ingestor's clock before its insert commits, started_at the Transformer's.
    /// </summary>
    private static readonly TimeSpan ClockMargin = TimeSpan.FromSeconds(10);

    private string Table(string name) => ClickHouseSql.Table(clickHouse.Settings.Database, name);

    /// <summary>
    /// A subquery of the tenant's events with time in [from, to), one row per event id, with
    /// <see cref="EventColumns"/>. <paramref name="eventNames"/> narrows the read early (optional).
    /// <paramref name="rawOnly"/> skips the staging model (for comparisons and the benchmark).
    /// Without <paramref name="properties"/> the raw part leaves out the two widest columns
    /// (properties and page are ''): folding copies then moves a fraction of the bytes. Pass it
    /// only when no filter or breakdown reads them (<see cref="Dimension.ReadsProperties"/>).
    /// <paramref name="users"/> adds the user dimensions' columns (<see cref="Dimension.ReadsUsers"/>).
    /// </summary>
    public async Task<EventsSource> EventsAsync(
        TenantScope scope, DateTimeOffset from, DateTimeOffset to, IReadOnlyCollection<string>? eventNames, bool rawOnly, CancellationToken cancellationToken,
        bool properties = true, bool users = false)
    {
        var events = await EventsOnlyAsync(scope, from, to, eventNames, rawOnly, cancellationToken, properties);
        return users ? await WithUserDimensionsAsync(scope, events, cancellationToken) : events;
    }

    private async Task<EventsSource> EventsOnlyAsync(
        TenantScope scope, DateTimeOffset from, DateTimeOffset to, IReadOnlyCollection<string>? eventNames, bool rawOnly, CancellationToken cancellationToken, bool properties)
    {
        var staged = rawOnly ? null : await SettledBeforeAsync(scope, "stg_events", from, to, cancellationToken);
        var split = staged is { } day ? TimeRange.LocalMidnight(day, "UTC") : from;
        if (split <= from)
        {
            return new EventsSource($"({Raw(scope, from, to, eventNames, properties)})", ["raw_events"]);
        }

        if (split >= to)
        {
            return new EventsSource($"({Staged(scope, from, to, eventNames)})", ["stg_events"]);
        }

        return new EventsSource($"({Staged(scope, from, split, eventNames)}\n    UNION ALL\n    {Raw(scope, split, to, eventNames, properties)})", ["stg_events", "raw_events"]);
    }

    /// <summary>
    /// The events with the tenant's dim_users row of their user_id joined on: one column per user
    /// dimension, as text, '' for an event whose user has no row (anonymous, not replicated yet). The
    /// Transformer builds dim_users only once the CDC bridge has replicated the product's tables;
    /// until then every event has '' and the answer's sources do not list dim_users.
    /// </summary>
    private async Task<EventsSource> WithUserDimensionsAsync(TenantScope scope, EventsSource events, CancellationToken cancellationToken)
    {
        var built = await ModelExistsAsync("dim_users", cancellationToken);
        var columns = Dimension.UserColumns.Values.ToList();
        var users = built
            ? $"SELECT user_id, plan AS dim_plan, toString(account_id) AS dim_account, toString(seats) AS dim_account_seats FROM {Table("dim_users")} WHERE tenant_id = {MetricsSql.Str(scope.TenantId)} AND user_id != ''"
            : $"SELECT '' AS user_id, {string.Join(", ", columns.Select(c => $"'' AS {c}"))} LIMIT 0";
        return new EventsSource(
            $"(SELECT {EventColumns}, {string.Join(", ", columns)}\n    FROM {events.Sql}\n    ANY LEFT JOIN ({users}) USING (user_id))",
            built ? [.. events.Tables, "dim_users"] : events.Tables);
    }

    /// <summary>Whether a model's table exists, cached like the watermarks.</summary>
    private async Task<bool> ModelExistsAsync(string model, CancellationToken cancellationToken) =>
        await cache.GetOrCreateAsync((nameof(ModelExistsAsync), model), async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = options.Value.WatermarkCacheDuration;
            entry.Size = 1;
            return await clickHouse.QueryLongAsync(
                $"SELECT count() FROM system.tables WHERE database = {MetricsSql.Str(clickHouse.Settings.Database)} AND name = {MetricsSql.Str(model)}",
                Limits(), cancellationToken) > 0;
        });

    /// <summary>The UTC day before which <paramref name="model"/>'s rows may answer for this tenant, or null when they may not at all.</summary>
    public Task<DateOnly?> RollupSettledBeforeAsync(TenantScope scope, string model, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        SettledBeforeAsync(scope, model, from, to, cancellationToken);

    /// <summary>A subquery of a day-keyed model's rows for the tenant and the UTC days [fromDay, toDay).</summary>
    public string Rollup(TenantScope scope, string model, DateOnly fromDay, DateOnly toDay, string dayColumn = "day") =>
        $"(SELECT * FROM {Table(model)} WHERE tenant_id = {MetricsSql.Str(scope.TenantId)} AND {ClickHouseSql.Identifier(dayColumn)} >= {MetricsSql.Day(fromDay)} AND {ClickHouseSql.Identifier(dayColumn)} < {MetricsSql.Day(toDay)})";

    /// <summary>A subquery of a whole model's rows for the tenant (marts without a day key).</summary>
    public string Model(TenantScope scope, string model, string? where = null) =>
        $"(SELECT * FROM {Table(model)} WHERE tenant_id = {MetricsSql.Str(scope.TenantId)}{(where is null ? "" : $" AND ({where})")})";

    /// <summary>
    /// Days before the model's watermark are whole unless this tenant has raw rows for them inserted
    /// after the build they came from (or too late for any incremental build): from the first such
    /// day (less the dedupe window, where copies may sit) the answer is read from events instead.
    /// </summary>
    private async Task<DateOnly?> SettledBeforeAsync(TenantScope scope, string model, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        if (await watermarks.GetAsync(model, cancellationToken) is not { } mark)
        {
            return null;
        }

        var window = options.Value.DedupeWindow;
        if (TimeRange.LocalMidnight(mark.SettledBefore, "UTC") <= from - window)
        {
            return mark.SettledBefore;
        }

        var lateDays = await LateDaysAsync(scope, mark, cancellationToken);
        var firstLate = lateDays.FirstOrDefault(d => TimeRange.LocalMidnight(d.AddDays(1), "UTC") > from - window && TimeRange.LocalMidnight(d, "UTC") < to + window);
        if (firstLate == default)
        {
            return mark.SettledBefore;
        }

        var dirty = firstLate.AddDays(-(int)Math.Ceiling(window.TotalDays));
        return dirty < mark.SettledBefore ? dirty : mark.SettledBefore;
    }

    /// <summary>
    /// The tenant's days before the watermark with rows the build did not see, oldest first. One read of
    /// the tenant's times per watermark, kept as long as the watermark is: answers stay exact to within
    /// <see cref="ApiOptions.WatermarkCacheDuration"/> of an insert, and a hot dashboard costs one query.
    /// </summary>
    private async Task<IReadOnlyList<DateOnly>> LateDaysAsync(TenantScope scope, ModelWatermark mark, CancellationToken cancellationToken) =>
        await cache.GetOrCreateAsync((nameof(LateDaysAsync), scope.TenantId, mark), async entry =>
        {
            entry.AbsoluteExpirationRelativeToNow = options.Value.WatermarkCacheDuration;
            entry.Size = 1;
            // raw_event_days holds the newest inserted_at of every event day (a view on raw_events keeps it).
            var days = await clickHouse.QueryScalarAsync(
                $"""
                SELECT arrayStringConcat(arrayMap(d -> toString(d), arraySort(groupArray(event_date))), ',')
                FROM
                (
                    SELECT event_date, max(last_inserted_at) AS last_inserted
                    FROM {Table("raw_event_days")}
                    WHERE tenant_id = {MetricsSql.Str(scope.TenantId)} AND event_date < {MetricsSql.Day(mark.SettledBefore)}
                    GROUP BY event_date
                    HAVING last_inserted >= {MetricsSql.Instant(mark.DataAsOf - ClockMargin)} OR event_date + {LateDays} < toDate(last_inserted)
                )
                """, Limits(), cancellationToken);
            return (IReadOnlyList<DateOnly>)days.Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(d => DateOnly.ParseExact(d, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)).ToList();
        }) ?? [];

    private string Staged(TenantScope scope, DateTimeOffset from, DateTimeOffset to, IReadOnlyCollection<string>? eventNames) =>
        $"""
        SELECT {EventColumns}
            FROM {Table("stg_events")}
            WHERE tenant_id = {MetricsSql.Str(scope.TenantId)}
              AND event_date >= toDate({MetricsSql.Instant(from)}) AND event_date <= toDate({MetricsSql.Instant(to)})
              AND event_time >= {MetricsSql.Instant(from)} AND event_time < {MetricsSql.Instant(to)}{NameFilter(eventNames)}
        """;

    /// <summary>
    /// raw_events folded to one row per event id: the copy with the earliest (event_time, received_at),
    /// read over the range widened by the dedupe window so a copy outside it still moves the event's
    /// time, and kept when that earliest time is in the range (the stg_events rule).
    /// </summary>
    private string Raw(TenantScope scope, DateTimeOffset from, DateTimeOffset to, IReadOnlyCollection<string>? eventNames, bool properties)
    {
        var window = options.Value.DedupeWindow;
        // The same column order as EventColumns: UNION ALL pairs the staged and raw parts by position.
        var (wideProperties, widePage, wideColumns) = properties ? ("c.13", "c.14", ", properties, page") : ("''", "''", "");
        return $"""
        SELECT event_id, c.1 AS event_type, c.2 AS event_name, c.3 AS user_id, c.4 AS anonymous_id,
                   if(c.3 != '', c.3, c.4) AS actor_id, c.5 AS session_id, first_time AS event_time, c.6 AS received_at, {wideProperties} AS properties,
                   c.7 AS country, c.8 AS device, c.9 AS os, c.10 AS app_version, c.11 AS library, c.12 AS locale, {widePage} AS page
            FROM
            (
                SELECT event_id, min(event_time) AS first_time,
                       argMin((event_type, event_name, user_id, anonymous_id, session_id, received_at, country, device, os, app_version, library, locale{wideColumns}),
                              (event_time, received_at)) AS c
                FROM {Table("raw_events")}
                WHERE tenant_id = {MetricsSql.Str(scope.TenantId)}
                  AND event_time >= {MetricsSql.Instant(from - window)} AND event_time < {MetricsSql.Instant(to + window)}{NameFilter(eventNames)}
                GROUP BY event_id
            )
            WHERE first_time >= {MetricsSql.Instant(from)} AND first_time < {MetricsSql.Instant(to)}
        """;
    }

    private static string NameFilter(IReadOnlyCollection<string>? eventNames) =>
        eventNames is { Count: > 0 } ? $"\n              AND event_name IN ({MetricsSql.StrList(eventNames)})" : "";

    private ClickHouseQueryOptions Limits() => new() { Readonly = true, MaxExecutionTime = options.Value.MaxExecutionTime };

}
