using Microsoft.Extensions.Options;
using Transformer.Models;

namespace Transformer.Retention;

/// <summary>
/// The configured tables plus every model that declares <c>retention_days</c> and has a time column;
/// a configured entry for a model's table wins over its header.
/// </summary>
public sealed class ModelRetentionTables(IOptions<TransformerOptions> options, ModelProject project) : IRetentionTables
{
    public IReadOnlyDictionary<string, TableRetention> Resolve()
    {
        var tables = new Dictionary<string, TableRetention>(options.Value.Retention.Tables, StringComparer.Ordinal);
        foreach (var model in project.Models)
        {
            if (model.Config is { RetentionDays: { } days, TimeColumn: { } column } && !tables.ContainsKey(model.Name))
            {
                tables[model.Name] = new TableRetention { Days = days, TimeColumn = column };
            }
        }

        return tables;
    }
}
