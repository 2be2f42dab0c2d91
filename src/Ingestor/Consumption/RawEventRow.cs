using System.Text.Json;
using System.Text.Json.Serialization;
using Platform.Events;

namespace Ingestor.Consumption;

/// <summary>One row of <c>raw_events</c>, in JSONEachRow shape. Times are Unix seconds, so the server's time zone cannot shift them.</summary>
public sealed record RawEventRow(
    string TenantId,
    string EventId,
    string EventType,
    string EventName,
    string EventVersion,
    string UserId,
    string AnonymousId,
    string SessionId,
    long EventTime,
    int EventTimeMs,
    long OriginalTime,
    long SentAt,
    long ReceivedAt,
    string Properties,
    string Context,
    string AppVersion,
    string Os,
    string Device,
    string Locale,
    string Timezone,
    string Country,
    string Library,
    string Page,
    string UserAgent,
    string Traits,
    string PreviousId,
    string GroupId,
    int SchemaVersion,
    long InsertedAt)
{
    public const string Table = "raw_events";

    public static RawEventRow From(CollectedEvent e) => new(
        e.TenantId,
        e.EventId,
        e.Type,
        e.Event,
        e.EventVersion,
        e.UserId,
        e.AnonymousId,
        e.SessionId,
        e.Timestamp.ToUnixTimeSeconds(),
        (int)(e.Timestamp.ToUnixTimeMilliseconds() % 1000),
        (e.OriginalTimestamp ?? e.Timestamp).ToUnixTimeSeconds(),
        e.SentAt?.ToUnixTimeSeconds() ?? 0,
        e.ReceivedAt.ToUnixTimeSeconds(),
        Json(e.Properties),
        Json(e.RawContext),
        e.Context.AppVersion,
        e.Context.Os,
        e.Context.Device,
        e.Context.Locale,
        e.Context.Timezone,
        e.Context.Country,
        e.Context.Library,
        e.Context.Page,
        e.Context.UserAgent,
        Json(e.Traits),
        e.PreviousId,
        e.GroupId,
        e.SchemaVersion,
        // Sent explicitly: ClickHouse 18.16 fills a column JSONEachRow omits with zero, not its DEFAULT.
        DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    private static string Json(JsonElement? element) => element is { ValueKind: JsonValueKind.Object } value ? value.GetRawText() : "{}";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(RawEventRow))]
internal sealed partial class RawEventJsonContext : JsonSerializerContext;
