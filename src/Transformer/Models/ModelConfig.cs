namespace Transformer.Models;

public enum Materialization
{
    View,
    Table,
    Incremental,
    Append,
}

/// <summary>A model's settings, read from the YAML block comment that opens its file.</summary>
public sealed record ModelConfig
{
    public Materialization Materialized { get; init; } = Materialization.View;

    /// <summary>The PARTITION BY expression of a table, incremental or append model.</summary>
    public string? PartitionBy { get; init; }

    /// <summary>The ORDER BY expression; <c>tuple()</c> when absent.</summary>
    public string? OrderBy { get; init; }

    /// <summary>The MergeTree family engine, e.g. <c>ReplacingMergeTree(version)</c>.</summary>
    public string Engine { get; init; } = "MergeTree";

    /// <summary>
    /// Rows per primary-key mark (ClickHouse's default 8192 when null). Smaller marks let a query that
    /// selects a narrow key range within a partition (a few event names of a day) read fewer rows.
    /// </summary>
    public int? IndexGranularity { get; init; }

    /// <summary>Incremental: the Date column a row's day is read from (the model is partitioned by it).</summary>
    public string? TimeColumn { get; init; }

    /// <summary>Incremental: days re-built on every run; null takes the Transformer's default.</summary>
    public int? LookbackDays { get; init; }

    /// <summary>
    /// Incremental: how far a change to one day of the model's input reaches into its own days. A change on day D
    /// changes days D - before to D + after (a session belongs to the day it starts, so an event on D can change
    /// the session that began the day before; WAU/MAU of a day count the 29 days before it). Late-day repair
    /// rebuilds that span.
    /// </summary>
    public int ReachDaysBefore { get; init; }

    public int ReachDaysAfter { get; init; }

    public string Group { get; init; } = "light";

    public int? RetentionDays { get; init; }

    public string? Owner { get; init; }

    public string? Description { get; init; }

    /// <summary>A failing data test of this model makes its dependents skip, as a failed build does.</summary>
    public bool BlockDependentsOnTestFailure { get; init; }

    public IReadOnlyList<DataTests.DataTestDefinition> Tests { get; init; } = [];
}
