using System.Buffers;
using System.Text.Json;

namespace Collector.Intake;

/// <summary>Copies of JSON objects with some members left out or replaced; untouched objects are returned as they are.</summary>
public static class JsonRewrite
{
    public static JsonElement Without(JsonElement value, string name) =>
        value.TryGetProperty(name, out _) ? Rewrite(value, p => p.NameEquals(name) ? Change.Drop : Change.Keep, null) : value;

    /// <summary>Rewrites an object's members: each is kept, dropped, or replaced by <paramref name="replace"/>'s string.</summary>
    public static JsonElement Rewrite(JsonElement value, Func<JsonProperty, Change> decide, Func<JsonProperty, string>? replace)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var property in value.EnumerateObject())
            {
                switch (decide(property))
                {
                    case Change.Keep:
                        property.WriteTo(writer);
                        break;
                    case Change.Replace:
                        writer.WriteString(property.Name, replace!(property));
                        break;
                }
            }

            writer.WriteEndObject();
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    /// <summary>One object of the given members in order; a later member replaces an earlier one of the same name, in its place.</summary>
    public static JsonElement Merge(IEnumerable<(string Name, JsonElement Value)> members)
    {
        var merged = new Dictionary<string, JsonElement>();
        foreach (var (name, value) in members)
        {
            merged[name] = value;
        }

        return JsonSerializer.SerializeToElement(merged, IntakeJsonContext.Default.DictionaryStringJsonElement);
    }

    public static IEnumerable<(string Name, JsonElement Value)> Members(JsonElement value) =>
        value.EnumerateObject().Select(p => (p.Name, p.Value));

    public enum Change
    {
        Keep,
        Drop,
        Replace,
    }
}
