using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Collector.Intake;

/// <summary>Why one event of a request was refused: its index in the request, the field, and the reason.</summary>
public sealed record EventError(int Index, string Field, string Reason);

/// <summary>Reads and checks the fields of one event, recording a precise error for each bad one.</summary>
public sealed partial class JsonFields(JsonElement item, int index, List<EventError> errors)
{
    public int ErrorCount => errors.Count;

    public void Error(string field, string reason) => errors.Add(new(index, field, reason));

    public bool Has(string field) => item.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null;

    /// <summary>A string field; null when absent, null or empty.</summary>
    public string? String(string field, int maxLength, bool required = false)
    {
        if (!item.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                Error(field, $"{field} is required.");
            }

            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            Error(field, $"{field} must be a string, not {Describe(value)}.");
            return null;
        }

        var text = value.GetString()!;
        if (text.Length > maxLength)
        {
            Error(field, $"{field} is longer than {maxLength} characters.");
            return null;
        }

        if (text.Length == 0 && required)
        {
            Error(field, $"{field} must not be empty.");
        }

        return text.Length == 0 ? null : text;
    }

    /// <summary>A string, or a number written as text (Segment ids and versions are often numbers).</summary>
    public string? StringOrNumber(string field, int maxLength)
    {
        if (item.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.Number)
        {
            var text = value.GetRawText();
            if (text.Length <= maxLength)
            {
                return text;
            }
        }

        return String(field, maxLength);
    }

    public DateTimeOffset? Timestamp(string field)
    {
        if (!item.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.String && TryParseTimestamp(value.GetString()!, out var parsed))
        {
            return parsed.ToUniversalTime();
        }

        Error(field, $"{field} must be an ISO-8601 date and time with a UTC offset between 2000 and 2100, e.g. 2026-01-31T12:00:00.000Z.");
        return null;
    }

    public JsonElement? Object(string field)
    {
        if (!item.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            Error(field, $"{field} must be an object, not {Describe(value)}.");
            return null;
        }

        return value;
    }

    /// <summary>Checks an object of primitives against the property caps; nested values are an error.</summary>
    public JsonElement? FlatObject(string field, CollectorOptions limits)
    {
        if (Object(field) is not { } value)
        {
            return null;
        }

        var before = errors.Count;
        foreach (var property in value.EnumerateObject())
        {
            if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
            {
                Error($"{field}.{property.Name}", "Property values must be strings, numbers, booleans or null, not objects or arrays.");
            }
        }

        return errors.Count == before ? FlatObjectOf(field, value, limits) : null;
    }

    /// <summary>
    /// Segment's properties and traits may nest (an address, a product list). They are stored flat:
    /// nested objects become dotted keys, arrays a JSON string; the caps apply to the result.
    /// </summary>
    public JsonElement? FlattenedObject(string field, CollectorOptions limits)
    {
        if (Object(field) is not { } value)
        {
            return null;
        }

        var nested = false;
        foreach (var property in value.EnumerateObject())
        {
            nested |= property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array;
        }

        if (!nested)
        {
            return FlatObjectOf(field, value, limits);
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            WriteFlattened(writer, "", value, depth: 0);
            writer.WriteEndObject();
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return FlatObjectOf(field, document.RootElement.Clone(), limits);
    }

    private JsonElement? FlatObjectOf(string field, JsonElement value, CollectorOptions limits)
    {
        var before = errors.Count;
        var count = 0;
        foreach (var property in value.EnumerateObject())
        {
            if (++count > limits.MaxProperties)
            {
                Error(field, $"{field} has more than {limits.MaxProperties} keys (nested objects count per leaf).");
                break;
            }

            CheckKey(field, property.Name, limits);
        }

        return errors.Count == before ? value : null;
    }

    private static void WriteFlattened(Utf8JsonWriter writer, string prefix, JsonElement value, int depth)
    {
        foreach (var property in value.EnumerateObject())
        {
            var name = prefix + property.Name;
            switch (property.Value.ValueKind)
            {
                case JsonValueKind.Object when depth < 4:
                    WriteFlattened(writer, name + ".", property.Value, depth + 1);
                    break;
                case JsonValueKind.Object or JsonValueKind.Array:
                    writer.WriteString(name, property.Value.GetRawText());
                    break;
                default:
                    writer.WritePropertyName(name);
                    property.Value.WriteTo(writer);
                    break;
            }
        }
    }

    private void CheckKey(string field, string key, CollectorOptions limits)
    {
        if (key.Length == 0)
        {
            Error(field, $"{field} has an empty key.");
        }
        else if (key.Length > limits.MaxPropertyKeyLength)
        {
            Error($"{field}.{key[..Math.Min(key.Length, 40)]}…", $"Keys are at most {limits.MaxPropertyKeyLength} characters.");
        }
    }

    public static bool TryParseTimestamp(string text, out DateTimeOffset value)
    {
        value = default;
        // An offset is required: a bare local time would be read in the server's zone, silently wrong.
        if (text.Length < 20 || text.Length > 40 || !(text.EndsWith('Z') || text.EndsWith('z') || OffsetSuffix().IsMatch(text)))
        {
            return false;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out value)
            && value.UtcDateTime.Year is >= 2000 and < 2100;
    }

    public static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.String => "a string",
        _ => "null",
    };

    [GeneratedRegex(@"[+-]\d{2}:?\d{2}$")]
    private static partial Regex OffsetSuffix();
}
