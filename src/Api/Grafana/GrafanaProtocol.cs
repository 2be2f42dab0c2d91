using System.Text.Json.Serialization;

namespace Api.Grafana;

// The shapes the Grafana JSON data source (simpod-json-datasource) reads. Serialized with the Web
// defaults (camelCase); nulls are left out, as the plugin treats a missing field as "not set".

/// <summary>One entry of <c>POST /metrics</c>: a metric and the payload fields its query editor shows.</summary>
public sealed record GrafanaMetricInfo(string Label, string Value, IReadOnlyList<GrafanaPayloadInfo> Payloads);

public sealed record GrafanaPayloadInfo(
    string Label,
    string Name,
    string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Placeholder,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<GrafanaOption>? Options,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? ReloadMetric);

/// <summary>A choice of a select payload (also the answer of <c>POST /metric-payload-options</c>).</summary>
public sealed record GrafanaOption(string Label, string Value);

/// <summary>A time series frame: <c>[value, epoch milliseconds]</c> pairs in time order.</summary>
public sealed record GrafanaTimeSeries(string Target, IReadOnlyList<double[]> Datapoints);

/// <summary>A table frame; <see cref="Type"/> is always "table".</summary>
public sealed record GrafanaTable(IReadOnlyList<GrafanaColumn> Columns, IReadOnlyList<object?[]> Rows)
{
    public string Type => "table";
}

/// <summary>A table column: type is time, string or number.</summary>
public sealed record GrafanaColumn(string Text, string Type);

/// <summary>A template variable value (<c>POST /variable</c>).</summary>
public sealed record GrafanaVariableValue([property: JsonPropertyName("__text")] string Text, [property: JsonPropertyName("__value")] string Value);

public sealed record GrafanaTagKey(string Type, string Text);

public sealed record GrafanaTagValue(string Text);

/// <summary>The answer of <c>GET /</c> (the data source's "Test connection"): the metrics the catalogue holds.</summary>
public sealed record GrafanaStatus(string Status, IReadOnlyList<string> Metrics);
