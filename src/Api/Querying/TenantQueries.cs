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
        var where = $"tenant_id = {ClickHouseSql.Literal(tenantId)} AND event_time >= {ClickHouseSql.Literal(from)} AND event_time < {ClickHouseSql.Literal(to)}";
        if (eventName is not null)
        {
            where += $" AND event_name = {ClickHouseSql.Literal(eventName)}";
        }

        // uniqExact(event_id): a redelivered copy not yet folded by a merge still counts once.
        var sql = $"""
            SELECT event_name AS event, toUInt64(uniqExact(event_id)) AS count
            FROM {ClickHouseSql.Table(clickHouse.Settings.Database, "raw_events")}
            WHERE {where}
            GROUP BY event_name
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
