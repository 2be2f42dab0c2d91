using System.Globalization;
using Platform.ClickHouse;

namespace Transformer.Tests;

/// <summary>Writes raw event rows the way the Ingestor stores them, for models to read.</summary>
public static class RawEvents
{
    public static Task InsertAsync(ClickHouseClient client, params (string Tenant, string Id, string Name, string User, string Time)[] events)
    {
        var values = events.Select(e =>
        {
            var time = DateTimeOffset.Parse(e.Time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            return $"({ClickHouseSql.Literal(e.Tenant)}, {ClickHouseSql.Literal(e.Id)}, {ClickHouseSql.Literal(e.Name)}, {ClickHouseSql.Literal(e.User)}, {ClickHouseSql.Literal(time)}, {ClickHouseSql.Literal(time)}, '{{}}', '{{}}', 2)";
        });
        return client.ExecuteAsync(
            "INSERT INTO raw_events (tenant_id, event_id, event_name, user_id, event_time, received_at, properties, context, schema_version) VALUES " + string.Join(", ", values));
    }
}
