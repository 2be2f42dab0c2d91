using System.Text.Json;
using System.Text.RegularExpressions;
using Platform.Events;

namespace Collector.Intake;

/// <summary>
/// Reads our own event format (docs/events.md): snake_case fields, flat properties, a flat context.
/// Each event is checked on its own so that one bad event does not sink its neighbours.
/// </summary>
public static partial class EventReader
{
    public const string EventNameRule = "An event name is 1-128 characters: letters, digits, space, '_', '-', '.', ':', '/' or '$', starting with a letter, digit or '$'.";

    public static bool IsValidEventName(string name) => EventNamePattern().IsMatch(name);

    /// <summary>A single event object, a JSON array, or <c>{"batch": [...]}</c>.</summary>
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

    public static IncomingEvent? Read(JsonElement item, int index, CollectorOptions limits, List<EventError> errors)
    {
        var fields = new JsonFields(item, index, errors);
        if (!CheckEnvelope(item, fields, limits))
        {
            return null;
        }

        var before = fields.ErrorCount;
        var name = fields.String("event", 128, required: true);
        if (name is not null && !IsValidEventName(name))
        {
            fields.Error("event", EventNameRule);
        }

        var beforeIds = fields.ErrorCount;
        var userId = fields.String("user_id", 256) ?? "";
        var anonymousId = fields.String("anonymous_id", 256) ?? "";
        if (userId.Length == 0 && anonymousId.Length == 0 && fields.ErrorCount == beforeIds)
        {
            fields.Error("user_id", "An event needs a user_id or an anonymous_id.");
        }

        var incoming = new IncomingEvent
        {
            Event = name ?? "",
            EventId = fields.String("event_id", 128),
            EventVersion = fields.StringOrNumber("event_version", 32) ?? "",
            UserId = userId,
            AnonymousId = anonymousId,
            SessionId = fields.String("session_id", 256) ?? "",
            Timestamp = fields.Timestamp("timestamp"),
            SentAt = fields.Timestamp("sent_at"),
            Properties = fields.FlatObject("properties", limits),
        };
        var (context, rawContext) = ReadContext(fields);
        return fields.ErrorCount > before ? null : incoming with { Context = context, RawContext = rawContext };
    }

    /// <summary>Shared by both formats: the item is an object within the per-event size limit.</summary>
    public static bool CheckEnvelope(JsonElement item, JsonFields fields, CollectorOptions limits)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            fields.Error("", $"An event must be a JSON object, not {JsonFields.Describe(item)}.");
            return false;
        }

        // The raw UTF-8 span, not GetRawText(): a string per event would be intake's largest allocation.
        if (System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(item).Length > limits.MaxEventBytes)
        {
            fields.Error("", $"The event is larger than {limits.MaxEventBytes} bytes.");
            return false;
        }

        return true;
    }

    private static (EventContext, JsonElement?) ReadContext(JsonFields fields)
    {
        if (fields.Object("context") is not { } context)
        {
            return (EventContext.Empty, null);
        }

        var contextFields = new JsonFields(context, 0, []);
        string? Field(string name, int maxLength = 512)
        {
            var value = contextFields.String(name, maxLength);
            if (contextFields.ErrorCount > 0)
            {
                fields.Error($"context.{name}", $"context.{name} must be a string of at most {maxLength} characters.");
                contextFields = new JsonFields(context, 0, []);
            }

            return value;
        }

        var country = Field("country", 2);
        if (country is not null && !CountryPattern().IsMatch(country))
        {
            fields.Error("context.country", "context.country must be an ISO 3166-1 alpha-2 code, e.g. \"DE\".");
        }

        var typed = new EventContext
        {
            AppVersion = Field("app_version", 64) ?? "",
            Os = Field("os") ?? "",
            Device = Field("device") ?? "",
            Locale = Field("locale", 64) ?? "",
            Timezone = Field("timezone", 64) ?? "",
            Country = country?.ToUpperInvariant() ?? "",
            Library = Field("library") ?? "",
            Page = Field("page", 2048) ?? "",
            UserAgent = Field("user_agent", 1024) ?? "",
        };
        return (typed, JsonRewrite.Without(context, "ip"));
    }

    [GeneratedRegex(@"^[A-Za-z0-9$][A-Za-z0-9 _\-.:/$]{0,127}$")]
    private static partial Regex EventNamePattern();

    [GeneratedRegex("^[A-Za-z]{2}$")]
    private static partial Regex CountryPattern();
}
