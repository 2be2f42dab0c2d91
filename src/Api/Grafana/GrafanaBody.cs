using System.Text.Json;
using System.Text.Json.Nodes;
using Api.Querying;

namespace Api.Grafana;

/// <summary>Reads the plugin's JSON bodies: malformed JSON, a body that is not an object, or a field of the wrong type is a 400, never a 500.</summary>
public static class GrafanaBody
{
    private const int MaxBytes = 256 * 1024;

    private static readonly JsonNodeOptions NodeOptions = new() { PropertyNameCaseInsensitive = false };
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 32, AllowDuplicateProperties = false };

    public static async Task<JsonObject> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBytes)
        {
            throw new BadQueryException("body", "Body too large", $"A request body may have at most {MaxBytes} bytes.");
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > MaxBytes)
            {
                throw new BadQueryException("body", "Body too large", $"A request body may have at most {MaxBytes} bytes.");
            }
        }

        if (buffer.Length == 0)
        {
            return [];
        }

        return Parse("body", buffer.ToArray()) as JsonObject
            ?? throw new BadQueryException("body", "Bad body", "The body must be a JSON object.");
    }

    public static JsonNode? ParseText(string parameter, string text) => Parse(parameter, System.Text.Encoding.UTF8.GetBytes(text));

    private static JsonNode? Parse(string parameter, byte[] utf8)
    {
        try
        {
            return JsonNode.Parse(utf8, NodeOptions, DocumentOptions);
        }
        catch (JsonException)
        {
            throw new BadQueryException(parameter, "Bad body", $"'{parameter}' is not valid JSON.");
        }
    }

    /// <summary>A string field, null when absent or null; any other type is a 400.</summary>
    public static string? String(JsonObject body, string name, string parameter) => body[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => throw new BadQueryException(parameter, "Bad body", $"'{parameter}' must be a string."),
    };

    /// <summary>A number field, null when absent; a non-number or one outside the range is a 400.</summary>
    public static long? Number(JsonObject body, string name, string parameter, long min, long max) => body[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && d >= min && d <= max => (long)d,
        _ => throw new BadQueryException(parameter, "Bad body", $"'{parameter}' must be a number from {min} to {max}."),
    };

    public static bool Flag(JsonObject body, string name) => body[name] is JsonValue v && v.GetValueKind() == JsonValueKind.True;

    public static JsonObject? Object(JsonObject body, string name, string parameter) => body[name] switch
    {
        null => null,
        JsonObject o => o,
        _ => throw new BadQueryException(parameter, "Bad body", $"'{parameter}' must be an object."),
    };

    public static JsonArray? Array(JsonObject body, string name, string parameter) => body[name] switch
    {
        null => null,
        JsonArray a => a,
        _ => throw new BadQueryException(parameter, "Bad body", $"'{parameter}' must be an array."),
    };
}
