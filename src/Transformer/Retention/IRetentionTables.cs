using Microsoft.Extensions.Options;

namespace Transformer.Retention;

/// <summary>The tables retention looks after, by name, and how long each keeps its rows.</summary>
public interface IRetentionTables
{
    IReadOnlyDictionary<string, TableRetention> Resolve();
}

/// <summary>The tables listed under <c>Transformer:Retention:Tables</c>.</summary>
public sealed class ConfiguredRetentionTables(IOptions<TransformerOptions> options) : IRetentionTables
{
    public IReadOnlyDictionary<string, TableRetention> Resolve() => options.Value.Retention.Tables;
}
