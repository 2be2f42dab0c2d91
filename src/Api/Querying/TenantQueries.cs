using System.Text.Json.Serialization;
using Platform.ClickHouse;

namespace Api.Querying;

/// <summary>
/// The event count behind <c>/v1/events/count</c>: the tenant's raw events through
/// <see cref="TenantSources"/>, run with the metrics limits by <see cref="MetricsQueryRunner"/>.
/// </summary>
public sealed class TenantQueries(TenantSources sources, MetricsQueryRunner runner)
{
    public async Task<List<EventCount>> CountEventsAsync(string tenantId, DateTimeOffset from, DateTimeOffset to, string? eventName, CancellationToken cancellationToken)
    {
        // raw_events folded to one row per event id (docs/events.md), read where every other query reads it.
        var events = await sources.EventsAsync(new TenantScope(tenantId, "UTC"), from, to, null, rawOnly: true, cancellationToken, properties: false);
        var eventFilter = eventName is null ? "" : $"WHERE event_name = {ClickHouseSql.Literal(eventName)}";
        var sql = $"""
            SELECT event_name AS event, toUInt64(count()) AS count
            FROM {events.Sql}
            {eventFilter}
            GROUP BY event
            ORDER BY count DESC, event
            """;
        return await runner.QueryAsync(sql, QueryJsonContext.Default.EventCount, cancellationToken);
    }
}

public sealed record EventCount(string Event, long Count);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(EventCount))]
internal sealed partial class QueryJsonContext : JsonSerializerContext;
