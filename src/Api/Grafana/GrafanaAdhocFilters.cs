using System.Text.Json.Nodes;
using Api.Querying;

namespace Api.Grafana;

/// <summary>
/// Grafana's ad-hoc filters as <see cref="EventFilter"/>s: <c>=</c> eq, <c>!=</c> neq, <c>=~</c> contains
/// (a substring, not a regular expression), <c>=|</c>/<c>!=|</c> in/nin over <c>values</c>. Keys must be
/// dimensions (<c>/tag-keys</c>); other keys and operators are a 400.
/// </summary>
public static class GrafanaAdhocFilters
{
    private const string Parameter = "adhocFilters";

    public static IReadOnlyList<EventFilter> Parse(JsonObject body, int maxFilters)
    {
        // Older Grafana sends adhocFilters, newer ones filters; both have the same items.
        var items = GrafanaBody.Array(body, "adhocFilters", Parameter) ?? GrafanaBody.Array(body, "filters", Parameter) ?? [];
        if (items.Count > maxFilters)
        {
            throw new BadQueryException(Parameter, "Too many filters", $"A query may have at most {maxFilters} filters.");
        }

        return items.Select(item => item is JsonObject filter
            ? Filter(filter)
            : throw new BadQueryException(Parameter, "Bad filter", "An ad-hoc filter is an object {key, operator, value}.")).ToList();
    }

    private static EventFilter Filter(JsonObject filter)
    {
        var key = GrafanaBody.String(filter, "key", Parameter + ".key") ?? "";
        var op = GrafanaBody.String(filter, "operator", Parameter + ".operator");
        var value = GrafanaBody.String(filter, "value", Parameter + ".value") ?? "";
        return op switch
        {
            "=" => EventFilter.Create(Parameter, key, "eq", [value]),
            "!=" => EventFilter.Create(Parameter, key, "neq", [value]),
            "=~" => EventFilter.Create(Parameter, key, "contains", [value]),
            "=|" => EventFilter.Create(Parameter, key, "in", Values(filter)),
            "!=|" => EventFilter.Create(Parameter, key, "nin", Values(filter)),
            _ => throw new BadQueryException(Parameter + ".operator", "Bad filter", "An ad-hoc filter's operator is =, !=, =~ (contains), =| or !=|."),
        };
    }

    private static List<string> Values(JsonObject filter) =>
        (GrafanaBody.Array(filter, "values", Parameter + ".values") ?? [])
        .Select(v => v is JsonValue s && s.TryGetValue<string>(out var text) ? text : throw new BadQueryException(Parameter + ".values", "Bad filter", "'values' must be strings."))
        .ToList();
}
