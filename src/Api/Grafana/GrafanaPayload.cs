using System.Text.Json;
using System.Text.Json.Nodes;
using Api.Querying;

namespace Api.Grafana;

public enum GrafanaPayloadType
{
    Select,
    MultiSelect,
    Input,
}

/// <summary>
/// A field of a metric's query editor. Its choices are fixed (<see cref="Options"/>) or the tenant's
/// recent values of a dimension (<see cref="Vocabulary"/>, answered by <c>/metric-payload-options</c>).
/// </summary>
public sealed record GrafanaPayload(
    string Name,
    string Label,
    GrafanaPayloadType Type,
    IReadOnlyList<GrafanaOption>? Options = null,
    string? Vocabulary = null,
    string? Placeholder = null)
{
    public GrafanaPayloadInfo Info => new(Label, Name, Type switch
    {
        GrafanaPayloadType.Select => "select",
        GrafanaPayloadType.MultiSelect => "multi-select",
        _ => "input",
    }, Placeholder, Options, null);

    public static GrafanaPayload Choice(string name, string label, params string[] values) =>
        new(name, label, GrafanaPayloadType.Select, values.Select(v => new GrafanaOption(v, v)).ToList(), Placeholder: values[0]);
}

/// <summary>
/// A target's payload as sent: strings, or arrays of strings for multi-selects (a multi-value template
/// variable arrives as an array in code mode and as one string in builder mode). Anything else, and
/// any field the metric does not define, is a 400 naming <c>payload.&lt;field&gt;</c>.
/// </summary>
public sealed class GrafanaPayloadValues
{
    private readonly Dictionary<string, IReadOnlyList<string>> _values;

    private GrafanaPayloadValues(Dictionary<string, IReadOnlyList<string>> values) => _values = values;

    public static GrafanaPayloadValues Parse(JsonNode? payload, GrafanaMetric metric)
    {
        var values = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        switch (payload)
        {
            case null:
                break;
            case JsonValue text when text.GetValueKind() == JsonValueKind.String:
                // Code mode with an empty editor sends "", else an object; a JSON text in a string is parsed as the plugin would.
                var s = text.GetValue<string>();
                if (s.Trim().Length > 0)
                {
                    return Parse(GrafanaBody.ParseText("payload", s), metric);
                }

                break;
            case JsonObject fields:
                foreach (var (key, value) in fields)
                {
                    var definition = metric.Payloads.FirstOrDefault(p => p.Name == key)
                        ?? throw new BadQueryException("payload." + Printable(key), "Unknown payload field",
                            $"Metric '{metric.Name}' takes the payload fields {string.Join(", ", metric.Payloads.Select(p => p.Name))}.");
                    values[key] = Strings(key, value, definition);
                }

                break;
            default:
                throw new BadQueryException("payload", "Bad payload", "A target's payload is a JSON object of strings or arrays of strings.");
        }

        return new GrafanaPayloadValues(values);
    }

    /// <summary>All values of a multi-select (empty when not set).</summary>
    public IReadOnlyList<string> All(string name) => _values.GetValueOrDefault(name) ?? [];

    /// <summary>The value of a single field, or null when not set.</summary>
    public string? One(string name) => All(name) switch
    {
        [] => null,
        [var one] => one,
        _ => throw new BadQueryException("payload." + name, "Bad payload", $"'{name}' takes one value."),
    };

    private static IReadOnlyList<string> Strings(string key, JsonNode? value, GrafanaPayload definition)
    {
        var list = value switch
        {
            null => [],
            JsonArray array => array.Select(item => Text(key, item)).ToList(),
            _ => [Text(key, value)],
        };
        list = list.Where(v => v.Length > 0).ToList();
        if (list.Count > 100)
        {
            throw new BadQueryException("payload." + key, "Bad payload", $"'{key}' takes at most 100 values.");
        }

        if (definition.Type != GrafanaPayloadType.MultiSelect && list.Count > 1)
        {
            throw new BadQueryException("payload." + key, "Bad payload", $"'{key}' takes one value.");
        }

        if (definition.Options is { } options && list.FirstOrDefault(v => options.All(o => o.Value != v)) is { } unknown)
        {
            throw new BadQueryException("payload." + key, "Bad payload", $"'{key}' must be one of {string.Join(", ", options.Select(o => o.Value))}.");
        }

        return list;
    }

    private static string Text(string key, JsonNode? item) =>
        item is JsonValue v && v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() is { Length: <= 512 } s && !s.Any(char.IsControl)
            ? s
            : throw new BadQueryException("payload." + key, "Bad payload", $"'{key}' takes strings (or an array of strings) of at most 512 characters.");

    internal static string Printable(string text) => new(text.Take(64).Where(c => !char.IsControl(c)).ToArray());
}
