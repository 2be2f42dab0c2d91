using System.Text.Json.Serialization;
using Api.Querying;
using Microsoft.Extensions.Options;

namespace Api.Metrics;

/// <summary>DAU/WAU/MAU for every local day of the range, optionally per breakdown value.</summary>
public sealed record ActiveUsersRequest(TimeRange Range, IReadOnlyList<EventFilter> Filters, Dimension? Breakdown, QuerySource Source);

public sealed record ActiveUsersDay(DateOnly Date, long Dau, long Wau, long Mau);

public sealed record ActiveUsersSeries(string? Breakdown, IReadOnlyList<ActiveUsersDay> Days);

public sealed record ActiveUsersResponse(
    DateOnly From, DateOnly To, string TimeZone, string? Breakdown, IReadOnlyList<string> Sources, IReadOnlyList<ActiveUsersSeries> Series);

/// <summary>
/// Active users: distinct actors (user_id, else anonymous_id) on the day (DAU), the 7 days and the 30
/// days ending with it (WAU, MAU), exact. In UTC without filters, settled days come from the
/// active_users model and later days from merging the exact daily user states of
/// rollup_active_users_daily with states computed from events; otherwise everything comes from
/// events, fanned out to the 30 days each active day counts towards.
/// </summary>
public sealed class ActiveUsersQuery(TenantSources sources, MetricsQueryRunner runner, IOptions<ApiOptions> options)
{
    public async Task<ActiveUsersResponse> RunAsync(TenantScope scope, ActiveUsersRequest request, CancellationToken cancellationToken)
    {
        var range = request.Range;
        var tables = new List<string>();
        List<Row> rows;
        if (request.Source == QuerySource.Auto && range.IsUtc && request.Breakdown is null && request.Filters.Count == 0)
        {
            rows = await FromRollupsAsync(scope, range, tables, cancellationToken);
        }
        else
        {
            rows = await FromEventsAsync(scope, request, range.FirstDay, range.LastDay, tables, cancellationToken);
        }

        var series = rows.GroupBy(r => r.SeriesKey)
            .Select(g => (Key: g.Key, Peak: g.Max(r => r.Mau), Days: g.ToDictionary(r => DateOnly.Parse(r.ActiveDay, System.Globalization.CultureInfo.InvariantCulture))))
            .OrderByDescending(s => s.Peak).ThenBy(s => s.Key, StringComparer.Ordinal)
            .Take(options.Value.MaxBreakdownValues)
            .Select(s => new ActiveUsersSeries(request.Breakdown is null ? null : s.Key,
                range.Days().Select(d => s.Days.TryGetValue(d, out var r) ? new ActiveUsersDay(d, r.Dau, r.Wau, r.Mau) : new ActiveUsersDay(d, 0, 0, 0)).ToList()))
            .ToList();
        if (series.Count == 0 && request.Breakdown is null)
        {
            series.Add(new ActiveUsersSeries(null, range.Days().Select(d => new ActiveUsersDay(d, 0, 0, 0)).ToList()));
        }

        return new ActiveUsersResponse(range.FirstDay, range.LastDay, range.TimeZone, request.Breakdown?.Name, tables.Distinct().ToList(), series);
    }

    /// <summary>
    /// Settled days from active_users. Days it has no row for (no activity that day, but WAU/MAU
    /// may not be zero) and days after its watermark are computed by fanning out daily states.
    /// </summary>
    private async Task<List<Row>> FromRollupsAsync(TenantScope scope, TimeRange range, List<string> tables, CancellationToken cancellationToken)
    {
        var rangeStart = TimeRange.LocalMidnight(range.FirstDay.AddDays(-29), "UTC");
        var settled = await sources.RollupSettledBeforeAsync(scope, "active_users", rangeStart, range.To, cancellationToken);
        var rows = new List<Row>();
        var end = range.LastDay.AddDays(1);
        var settledEnd = settled is { } s && s < end ? s : end;
        if (settled is not null && range.FirstDay < settledEnd)
        {
            rows = await runner.QueryAsync(
                $"SELECT toString(day) AS active_day, '' AS series_key, dau, wau, mau FROM {sources.Rollup(scope, "active_users", range.FirstDay, settledEnd)}",
                ActiveUsersJsonContext.Default.Row, cancellationToken);
            tables.Add("active_users");
        }

        var have = rows.Select(r => r.ActiveDay).ToHashSet(StringComparer.Ordinal);
        var missing = range.Days().Where(d => !have.Contains(d.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture))).ToList();
        if (missing.Count > 0)
        {
            rows.AddRange(await FromDailyStatesAsync(scope, missing, tables, cancellationToken));
        }

        return rows;
    }

    /// <summary>DAU/WAU/MAU of the given UTC days from rollup_active_users_daily where it holds the day, from events after.</summary>
    private async Task<List<Row>> FromDailyStatesAsync(TenantScope scope, List<DateOnly> days, List<string> tables, CancellationToken cancellationToken)
    {
        var first = days.Min().AddDays(-29);
        var end = days.Max().AddDays(1);
        var from = TimeRange.LocalMidnight(first, "UTC");
        var to = TimeRange.LocalMidnight(end, "UTC");
        var settled = await sources.RollupSettledBeforeAsync(scope, "rollup_active_users_daily", from, to, cancellationToken) ?? first;
        if (settled < first)
        {
            settled = first;
        }

        var branches = new List<string>();
        if (first < settled)
        {
            branches.Add($"SELECT day AS state_day, users AS day_users FROM {sources.Rollup(scope, "rollup_active_users_daily", first, settled < end ? settled : end)}");
            tables.Add("rollup_active_users_daily");
        }

        if (settled < end)
        {
            var events = await sources.EventsAsync(scope, TimeRange.LocalMidnight(settled, "UTC"), to, null, rawOnly: false, cancellationToken, properties: false, dimensions: false);
            tables.AddRange(events.Tables);
            branches.Add($"SELECT toDate(event_time) AS state_day, uniqExactState(actor_id) AS day_users FROM {events.Sql} WHERE actor_id != '' GROUP BY state_day");
        }

        var sql = $"""
            SELECT toString(state_day + day_offset) AS active_day, '' AS series_key,
                   uniqExactMergeIf(day_users, day_offset = 0) AS dau, uniqExactMergeIf(day_users, day_offset < 7) AS wau, uniqExactMerge(day_users) AS mau
            FROM ({string.Join("\nUNION ALL\n", branches)})
            ARRAY JOIN range(30) AS day_offset
            WHERE state_day + day_offset IN ({string.Join(", ", days.Select(MetricsSql.Day))})
            GROUP BY active_day
            """;
        return await runner.QueryAsync(sql, ActiveUsersJsonContext.Default.Row, cancellationToken);
    }

    /// <summary>From events in the query's zone: each actor's distinct local days, each counted towards itself and the 29 days after.</summary>
    private async Task<List<Row>> FromEventsAsync(TenantScope scope, ActiveUsersRequest request, DateOnly firstDay, DateOnly lastDay, List<string> tables, CancellationToken cancellationToken)
    {
        var zone = request.Range.TimeZone;
        var events = await sources.EventsAsync(scope, TimeRange.LocalMidnight(firstDay.AddDays(-29), zone), TimeRange.LocalMidnight(lastDay.AddDays(1), zone),
            null, request.Source == QuerySource.Raw, cancellationToken,
            properties: request.Filters.Any(f => f.Dimension.ReadsProperties) || request.Breakdown?.ReadsProperties == true,
            users: Dimension.AnyReadsUsers(request.Filters, request.Breakdown),
            dimensions: request.Filters.Count > 0 || request.Breakdown is not null);
        tables.AddRange(events.Tables);
        var breakdown = request.Breakdown?.Expression ?? "''";
        var where = MetricsSql.And(request.Filters.Select(f => f.Sql).Prepend("actor_id != ''"));
        var sql = $"""
            SELECT toString(active_date) AS active_day, series_key,
                   uniqExactIf(actor_id, day_offset = 0) AS dau, uniqExactIf(actor_id, day_offset < 7) AS wau, uniqExact(actor_id) AS mau
            FROM
            (
                SELECT DISTINCT {MetricsSql.LocalDay("event_time", zone)} AS local_day, {breakdown} AS series_key, actor_id
                FROM {events.Sql}
                WHERE {where}
            )
            ARRAY JOIN range(30) AS day_offset
            WHERE local_day + day_offset >= {MetricsSql.Day(firstDay)} AND local_day + day_offset <= {MetricsSql.Day(lastDay)}
            GROUP BY local_day + day_offset AS active_date, series_key
            """;
        return await runner.QueryAsync(sql, ActiveUsersJsonContext.Default.Row, cancellationToken);
    }

    public sealed record Row(string ActiveDay, string SeriesKey, long Dau, long Wau, long Mau);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ActiveUsersQuery.Row))]
internal sealed partial class ActiveUsersJsonContext : JsonSerializerContext;
