using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Platform.Events;

namespace Collector.Intake;

/// <summary>Why one event of a request was refused: its index in the request, the field, and the reason.</summary>
public sealed record EventError(int Index, string Field, string Reason);

/// <summary>
/// Turns a request body into events: a single event object, a JSON array, or <c>{"batch": [...]}</c>.
/// Each event is checked on its own so that one bad event does not sink its neighbours.
/// </summary>
public static partial class EventParser
{
    public static bool TryGetItems(JsonElement root, out IReadOnlyList<JsonElement> items, out string? problem)
    {
        problem = null;
        switch (root.ValueKind)
        {
            case JsonValueKind.Array:
                items = root.EnumerateArray().ToList();
                return true;
            case JsonValueKind.Object when root.TryGetProperty("batch", out var batch):
                if (batch.ValueKind != JsonValueKind.Array)
                {
                    items = [];
                    problem = "'batch' must be an array of events.";
                    return false;
                }

                items = batch.EnumerateArray().ToList();
                return true;
            case JsonValueKind.Object:
                items = [root];
                return true;
            default:
                items = [];
                problem = "The body must be an event object, an array of events, or {\"batch\": [...]}.";
                return false;
        }
    }

    public static CollectedEvent? Parse(JsonElement item, int index, string tenantId, DateTimeOffset receivedAt, int maxEventBytes, List<EventError> errors)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new(index, "", "An event must be a JSON object."));
            return null;
        }

        if (item.GetRawText().Length > maxEventBytes)
        {
            errors.Add(new(index, "", $"The event is larger than {maxEventBytes} bytes."));
            return null;
        }

        var before = errors.Count;
        var name = RequiredString(item, "event", index, errors);
        if (name is not null && !EventNamePattern().IsMatch(name))
        {
            errors.Add(new(index, "event", "An event name is 1-128 characters: letters, digits, space, '_', '-', '.', ':', '/' or '$', starting with a letter, digit or '$'."));
        }

        var eventId = OptionalString(item, "event_id", index, errors, 128);
        var userId = OptionalString(item, "user_id", index, errors, 256) ?? "";
        var anonymousId = OptionalString(item, "anonymous_id", index, errors, 256) ?? "";
        var sessionId = OptionalString(item, "session_id", index, errors, 256) ?? "";
        if (userId.Length == 0 && anonymousId.Length == 0 && errors.Count == before)
        {
            errors.Add(new(index, "user_id", "An event needs a user_id or an anonymous_id."));
        }

        var timestamp = receivedAt;
        if (item.TryGetProperty("timestamp", out var ts) && ts.ValueKind != JsonValueKind.Null)
        {
            if (ts.ValueKind != JsonValueKind.String || !TryParseTimestamp(ts.GetString()!, out timestamp))
            {
                errors.Add(new(index, "timestamp", "timestamp must be an ISO-8601 date and time with a UTC offset, e.g. 2026-01-31T12:00:00Z."));
            }
        }

        var properties = OptionalFlatObject(item, "properties", index, errors);
        var context = item.TryGetProperty("context", out var ctx) && ctx.ValueKind != JsonValueKind.Null ? ctx : (JsonElement?)null;
        if (context is { ValueKind: not JsonValueKind.Object })
        {
            errors.Add(new(index, "context", "context must be an object."));
        }

        if (errors.Count > before)
        {
            return null;
        }

        return new CollectedEvent
        {
            TenantId = tenantId,
            EventId = eventId ?? Guid.NewGuid().ToString("N"),
            Event = name!,
            UserId = userId,
            AnonymousId = anonymousId,
            SessionId = sessionId,
            Timestamp = timestamp.ToUniversalTime(),
            ReceivedAt = receivedAt,
            Properties = properties?.Clone(),
            RawContext = context?.Clone(),
        };
    }

    public static bool TryParseTimestamp(string text, out DateTimeOffset value)
    {
        value = default;
        // An offset is required: a bare local time would be read in the server's zone, silently wrong.
        if (text.Length < 20 || !(text.EndsWith('Z') || text.EndsWith('z') || OffsetSuffix().IsMatch(text)))
        {
            return false;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out value)
            && value.Year is >= 2000 and <= 2100;
    }

    private static string? RequiredString(JsonElement item, string field, int index, List<EventError> errors)
    {
        if (!item.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            errors.Add(new(index, field, $"{field} is required."));
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add(new(index, field, $"{field} must be a string."));
            return null;
        }

        return value.GetString();
    }

    private static string? OptionalString(JsonElement item, string field, int index, List<EventError> errors, int maxLength)
    {
        if (!item.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add(new(index, field, $"{field} must be a string."));
            return null;
        }

        var text = value.GetString()!;
        if (text.Length > maxLength)
        {
            errors.Add(new(index, field, $"{field} is longer than {maxLength} characters."));
            return null;
        }

        return text.Length == 0 ? null : text;
    }

    private static JsonElement? OptionalFlatObject(JsonElement item, string field, int index, List<EventError> errors)
    {
        if (!item.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            errors.Add(new(index, field, $"{field} must be an object."));
            return null;
        }

        foreach (var property in value.EnumerateObject())
        {
            if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
            {
                errors.Add(new(index, $"{field}.{property.Name}", "Property values must be strings, numbers, booleans or null, not objects or arrays."));
                return null;
            }
        }

        return value;
    }

    [GeneratedRegex(@"^[A-Za-z0-9$][A-Za-z0-9 _\-.:/$]{0,127}$")]
    private static partial Regex EventNamePattern();

    [GeneratedRegex(@"[+-]\d{2}:?\d{2}$")]
    private static partial Regex OffsetSuffix();
}
