using System.Text.Json;
using System.Text.Json.Serialization;
using Platform.Events;

namespace Ingestor.Consumption;

/// <summary>One row of <c>raw_events</c>, in JSONEachRow shape. Times are Unix seconds, so the server's time zone cannot shift them.</summary>
public sealed record RawEventRow(
    string TenantId,
    string EventId,
    string EventName,
    string UserId,
    string AnonymousId,
    string SessionId,
    long EventTime,
    int EventTimeMs,
    long ReceivedAt,
    string Properties,
    string Context,
    int SchemaVersion)
{
    public const string Table = "raw_events";

    public static RawEventRow From(CollectedEvent e) => new(
        e.TenantId,
        e.EventId,
        e.Event,
        e.UserId,
        e.AnonymousId,
        e.SessionId,
        e.Timestamp.ToUnixTimeSeconds(),
        (int)(e.Timestamp.ToUnixTimeMilliseconds() % 1000),
        e.ReceivedAt.ToUnixTimeSeconds(),
        e.Properties is { } p ? p.GetRawText() : "{}",
        e.Context is { } c ? c.GetRawText() : "{}",
        e.SchemaVersion);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(RawEventRow))]
internal sealed partial class RawEventJsonContext : JsonSerializerContext;
