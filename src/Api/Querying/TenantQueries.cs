using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;

namespace Api.Querying;

/// <summary>
/// Read-only queries, each scoped to one tenant. The tenant filter is added here, from the caller's
/// authenticated tenant, and every value goes through <see cref="ClickHouseSql"/>.
/// </summary>
public sealed class TenantQueries(ClickHouseClient clickHouse, IOptions<ApiOptions> options)
{
    public async Task<List<EventCount>> CountEventsAsync(string tenantId, DateTimeOffset from, DateTimeOffset to, string? eventName, CancellationToken cancellationToken)
    {
        // One row per event id first (copies folded to the earliest time), then the range: a copy
        // whose corrected time differs from another's still counts once, in one place (docs/events.md).
        var window = options.Value.DedupeWindow;
        var eventFilter = eventName is null ? "" : $" AND event = {ClickHouseSql.Literal(eventName)}";
        var sql = $"""
            SELECT event, toUInt64(count()) AS count
            FROM
            (
                SELECT event_id, argMin(event_name, event_time) AS event, min(event_time) AS time
                FROM {ClickHouseSql.Table(clickHouse.Settings.Database, "raw_events")}
                WHERE tenant_id = {ClickHouseSql.Literal(tenantId)}
                  AND event_time >= {ClickHouseSql.Literal(from - window)} AND event_time < {ClickHouseSql.Literal(to + window)}
                GROUP BY event_id
            )
            WHERE time >= {ClickHouseSql.Literal(from)} AND time < {ClickHouseSql.Literal(to)}{eventFilter}
            GROUP BY event
            ORDER BY count DESC, event
            """;
        return await clickHouse.QueryAsync(sql, QueryJsonContext.Default.EventCount, Limits(), cancellationToken);
    }

    private ClickHouseQueryOptions Limits() => new()
    {
        QueryId = $"api-{Guid.NewGuid():N}",
        MaxExecutionTime = options.Value.MaxExecutionTime,
        MaxResultRows = options.Value.MaxResultRows,
        Readonly = true,
    };
}

public sealed record EventCount(string Event, long Count);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(EventCount))]
internal sealed partial class QueryJsonContext : JsonSerializerContext;
