using System.Text.Json;
using System.Text.RegularExpressions;
using Platform.Events;

namespace Collector.Intake;

/// <summary>
/// Reads Segment's HTTP tracking API calls (track, page, screen, identify, group, alias, batch), so
/// existing analytics SDKs can send here unchanged. Names and nesting follow Segment's spec;
/// what comes out is the same <see cref="IncomingEvent"/> our own format produces.
/// </summary>
public static partial class SegmentReader
{
    public static readonly IReadOnlyList<string> CallTypes = [EventTypes.Track, EventTypes.Page, EventTypes.Screen, EventTypes.Identify, EventTypes.Group, EventTypes.Alias];

    /// <summary>The write key sent in the body, Segment's alternative to Basic auth.</summary>
    public static string? WriteKey(JsonElement root) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty("writeKey", out var key) && key.ValueKind == JsonValueKind.String ? key.GetString() : null;

    /// <summary>
    /// The calls of a request: the body itself for a single call (its type from the path), or the
    /// items of <c>batch</c>, each with its own <c>type</c>, sharing the batch's context and sentAt.
    /// </summary>
    public static bool TryGetItems(JsonElement root, string? pathType, out IReadOnlyList<JsonElement> items, out string? problem)
    {
        problem = null;
        items = [];
        if (root.ValueKind != JsonValueKind.Object)
        {
            problem = pathType is null ? "The body must be an object with a 'batch' array." : $"The body must be a {pathType} call object.";
            return false;
        }

        if (pathType is not null)
        {
            items = [root];
            return true;
        }

        if (!root.TryGetProperty("batch", out var batch) || batch.ValueKind != JsonValueKind.Array)
        {
            problem = "'batch' must be an array of calls.";
            return false;
        }

        items = batch.EnumerateArray().ToList();
        return true;
    }

    public static IncomingEvent? Read(JsonElement item, int index, string? pathType, JsonElement root, CollectorOptions limits, List<EventError> errors)
    {
        var fields = new JsonFields(item, index, errors);
        if (!EventReader.CheckEnvelope(item, fields, limits))
        {
            return null;
        }

        var before = fields.ErrorCount;
        var type = pathType ?? fields.String("type", 16, required: true);
        if (type is null)
        {
            return null;
        }

        if (!CallTypes.Contains(type))
        {
            fields.Error("type", $"type must be one of {string.Join(", ", CallTypes)}.");
            return null;
        }

        var beforeIds = fields.ErrorCount;
        var userId = fields.StringOrNumber("userId", 256) ?? "";
        var anonymousId = fields.StringOrNumber("anonymousId", 256) ?? "";
        if (userId.Length == 0 && anonymousId.Length == 0 && fields.ErrorCount == beforeIds)
        {
            fields.Error("userId", "A call needs a userId or an anonymousId.");
        }

        // Segment: an explicit timestamp is authoritative; otherwise originalTimestamp is corrected with sentAt.
        var timestamp = fields.Timestamp("timestamp");
        var originalTimestamp = fields.Timestamp("originalTimestamp");
        var sentAt = fields.Timestamp("sentAt") ?? (pathType is null ? new JsonFields(root, index, errors).Timestamp("sentAt") : null);

        (string? Name, JsonElement? Properties, JsonElement? Traits, string PreviousId, string GroupId) call = type switch
        {
            EventTypes.Track => (TrackName(fields), fields.FlattenedObject("properties", limits), null, "", ""),
            EventTypes.Page => ("$page", WithName(fields, limits), null, "", ""),
            EventTypes.Screen => ("$screen", WithName(fields, limits), null, "", ""),
            EventTypes.Identify => ("$identify", null, fields.FlattenedObject("traits", limits), "", ""),
            EventTypes.Group => ("$group", null, fields.FlattenedObject("traits", limits), "", fields.StringOrNumber("groupId", 256) ?? Missing(fields, "groupId")),
            _ => ("$alias", null, null, fields.StringOrNumber("previousId", 256) ?? Missing(fields, "previousId"), ""),
        };

        var context = MergedContext(item, root, pathType, fields);
        if (fields.ErrorCount > before)
        {
            return null;
        }

        return new IncomingEvent
        {
            Type = type,
            Event = call.Name!,
            EventId = fields.StringOrNumber("messageId", 128),
            EventVersion = fields.StringOrNumber("version", 32) ?? "",
            UserId = userId,
            AnonymousId = anonymousId,
            SessionId = context is { } c ? SessionId(c) : "",
            Timestamp = timestamp ?? originalTimestamp,
            CorrectSkew = timestamp is null,
            SentAt = sentAt,
            Properties = call.Properties,
            Context = context is { } typed ? TypedContext(typed) : EventContext.Empty,
            RawContext = context is { } raw ? JsonRewrite.Without(raw, "ip") : null,
            Traits = call.Traits,
            PreviousId = call.PreviousId,
            GroupId = call.GroupId,
        };
    }

    private static string? TrackName(JsonFields fields)
    {
        var name = fields.String("event", 128, required: true);
        if (name is not null && !TrackNamePattern().IsMatch(name))
        {
            fields.Error("event", "An event name is 1-128 characters without control characters or surrounding spaces.");
        }

        return name;
    }

    /// <summary>page and screen: the call's name and category are kept as properties.</summary>
    private static JsonElement? WithName(JsonFields fields, CollectorOptions limits)
    {
        var properties = fields.FlattenedObject("properties", limits);
        var name = fields.String("name", 256);
        var category = fields.String("category", 256);
        if (name is null && category is null)
        {
            return properties;
        }

        // The properties' own name and category win over the call's.
        var own = properties is { } p ? JsonRewrite.Members(p).ToList() : [];
        var added = new (string Name, string? Value)[] { ("name", name), ("category", category) }
            .Where(a => a.Value is not null && own.All(o => o.Name != a.Name))
            .Select(a => (a.Name, JsonSerializer.SerializeToElement(a.Value!, IntakeJsonContext.Default.String)));
        return JsonRewrite.Merge(own.Concat(added));
    }

    private static string Missing(JsonFields fields, string field)
    {
        fields.Error(field, $"{field} is required.");
        return "";
    }

    /// <summary>The call's context over the batch's shared context: the call's own keys win.</summary>
    private static JsonElement? MergedContext(JsonElement item, JsonElement root, string? pathType, JsonFields fields)
    {
        var own = fields.Object("context");
        var shared = pathType is null && root.TryGetProperty("context", out var batchContext) && batchContext.ValueKind == JsonValueKind.Object
            ? batchContext
            : (JsonElement?)null;
        if (shared is null)
        {
            return own;
        }

        if (own is null)
        {
            return shared;
        }

        return JsonRewrite.Merge(JsonRewrite.Members(shared.Value).Concat(JsonRewrite.Members(own.Value)));
    }

    private static EventContext TypedContext(JsonElement context)
    {
        var library = Text(context, "library", "name");
        var libraryVersion = Text(context, "library", "version");
        var country = Text(context, "location", "country");
        return new EventContext
        {
            AppVersion = Text(context, "app", "version"),
            Os = Join(Text(context, "os", "name"), Text(context, "os", "version")),
            Device = First(Text(context, "device", "type"), Text(context, "device", "model")),
            Locale = Text(context, "locale"),
            Timezone = Text(context, "timezone"),
            // Segment's location.country is often a name; only an ISO code is usable for breakdowns.
            Country = CountryCode().IsMatch(country) ? country.ToUpperInvariant() : "",
            Library = libraryVersion.Length > 0 ? $"{library}/{libraryVersion}" : library,
            Page = First(Text(context, "page", "url"), Text(context, "page", "path"), Text(context, "screen", "name")),
            UserAgent = Text(context, "userAgent"),
        };
    }

    private static string SessionId(JsonElement context) => First(Text(context, "sessionId"), Text(context, "session_id"));

    /// <summary>A string (or number) at a path of the context; anything else reads as empty, since SDKs fill context on their own.</summary>
    private static string Text(JsonElement element, params ReadOnlySpan<string> path)
    {
        foreach (var name in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return "";
            }
        }

        var text = element.ValueKind switch
        {
            JsonValueKind.String => element.GetString()!,
            JsonValueKind.Number => element.GetRawText(),
            _ => "",
        };
        return text.Length > 1024 ? text[..1024] : text;
    }

    private static string First(params ReadOnlySpan<string> values)
    {
        foreach (var value in values)
        {
            if (value.Length > 0)
            {
                return value;
            }
        }

        return "";
    }

    private static string Join(string name, string version) => version.Length > 0 && name.Length > 0 ? $"{name} {version}" : name;

    [GeneratedRegex(@"^(?!\s)[^\p{Cc}\p{Cf}]{1,128}(?<!\s)$")]
    private static partial Regex TrackNamePattern();

    [GeneratedRegex("^[A-Za-z]{2}$")]
    private static partial Regex CountryCode();
}
