namespace Transformer.Models;

/// <summary>One SQL model: its name (also its table's), its settings, its SQL and what it reads.</summary>
public sealed record Model(string Name, string Path, ModelConfig Config, SqlTemplate Sql)
{
    /// <summary>The folder it lives in (staging, marts, rollups), for listing.</summary>
    public string Layer { get; init; } = "";

    /// <summary>Models this one reads through <c>ref()</c>.</summary>
    public IReadOnlyList<string> DependsOn => Sql.Refs;

    public int LookbackDays(TransformerOptions options) => Config.LookbackDays ?? options.DefaultLookbackDays;

    /// <summary>The materialization as the history, status and command line spell it: view, table, incremental, append.</summary>
    public string MaterializedName => Config.Materialized.ToString().ToLowerInvariant();

    /// <summary>Whether these test results make the model's dependents skip.</summary>
    public bool BlocksDependents(IEnumerable<DataTests.DataTestResult> tests) => Config.BlockDependentsOnTestFailure && tests.Any(t => !t.Passed);
}
