using System.Runtime.InteropServices;
using System.Text.Json;
using Platform.ClickHouse;
using Platform.Events;

namespace Ingestor.Consumption;

/// <summary>
/// How a collected event is written as a row of <c>raw_events</c>: RowBinary, in <see cref="Columns"/> order. Times are
/// Unix seconds, so the server's time zone cannot shift them. <c>inserted_at</c> is left to its DEFAULT now(): the server's
/// clock at the insert that really stored the row, which the late-day repair compares with build times.
/// </summary>
public static class RawEventRow
{
    public const string Table = "raw_events";

    public const string Columns = "tenant_id, event_id, event_type, event_name, event_version, user_id, anonymous_id, session_id, "
        + "event_time, event_time_ms, original_time, sent_at, received_at, properties, context, "
        + "app_version, os, device, locale, timezone, country, library, page, user_agent, traits, previous_id, group_id, schema_version";

    private static readonly byte[] EmptyObject = "{}"u8.ToArray();

    /// <summary>Appends the event's row. Times must be storable (1970-2105) and the schema version 1-255: checked before.</summary>
    public static void Write(CollectedEvent e, RowBinaryBuffer row)
    {
        row.String(e.TenantId);
        row.String(e.EventId);
        row.String(e.Type);
        row.String(e.Event);
        row.String(e.EventVersion);
        row.String(e.UserId);
        row.String(e.AnonymousId);
        row.String(e.SessionId);
        row.DateTime(e.Timestamp.ToUnixTimeSeconds());
        row.UInt16((ushort)(e.Timestamp.ToUnixTimeMilliseconds() % 1000));
        row.DateTime((e.OriginalTimestamp ?? e.Timestamp).ToUnixTimeSeconds());
        row.DateTime(e.SentAt?.ToUnixTimeSeconds() ?? 0);
        row.DateTime(e.ReceivedAt.ToUnixTimeSeconds());
        row.String(Json(e.Properties));
        row.String(Json(e.RawContext));
        row.String(e.Context.AppVersion);
        row.String(e.Context.Os);
        row.String(e.Context.Device);
        row.String(e.Context.Locale);
        row.String(e.Context.Timezone);
        row.String(e.Context.Country);
        row.String(e.Context.Library);
        row.String(e.Context.Page);
        row.String(e.Context.UserAgent);
        row.String(Json(e.Traits));
        row.String(e.PreviousId);
        row.String(e.GroupId);
        row.UInt8((byte)e.SchemaVersion);
    }

    // The object's text as it came in the record, without making a string of it.
    private static ReadOnlySpan<byte> Json(JsonElement? element) =>
        element is { ValueKind: JsonValueKind.Object } value ? JsonMarshal.GetRawUtf8Value(value) : EmptyObject;
}
