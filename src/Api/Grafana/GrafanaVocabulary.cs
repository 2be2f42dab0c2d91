using System.Text.Json.Serialization;
using Api.Querying;

namespace Api.Grafana;

/// <summary>
/// The tenant's recent values of a dimension (event names, countries, devices, ...), most frequent
/// first: the choices of template variables, payload selects and ad-hoc filter values.
/// </summary>
public sealed class GrafanaVocabulary(TenantSources sources, MetricsQueryRunner runner, TimeProvider time)
{
    public static readonly TimeSpan Lookback = TimeSpan.FromDays(30);

    public const int MaxValues = 500;

    /// <summary>What <c>/variable</c> targets name, and the dimension each lists.</summary>
    public static readonly IReadOnlyDictionary<string, string> Variables = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["events"] = "event_name",
        ["countries"] = "country",
        ["devices"] = "device",
        ["os"] = "os",
        ["app_versions"] = "app_version",
        ["plans"] = "plan",
    };

    public async Task<IReadOnlyList<string>> ValuesAsync(TenantScope scope, Dimension dimension, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var events = await sources.EventsAsync(scope, now - Lookback, now, null, rawOnly: false, cancellationToken, users: dimension.ReadsUsers);
        var sql = $"""
            SELECT {dimension.Expression} AS dimension_value
            FROM {events.Sql}
            GROUP BY dimension_value
            HAVING dimension_value != ''
            ORDER BY count() DESC, dimension_value
            LIMIT {MetricsSql.Int(MaxValues)}
            """;
        var rows = await runner.QueryAsync(sql, VocabularyJsonContext.Default.VocabularyRow, cancellationToken);
        return rows.Select(r => r.DimensionValue).ToList();
    }

    public sealed record VocabularyRow(string DimensionValue);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(GrafanaVocabulary.VocabularyRow))]
internal sealed partial class VocabularyJsonContext : JsonSerializerContext;
