using System.Text.Json.Serialization;
using Transformer.DataTests;

namespace Transformer.Runs;

public enum ModelRunStatus
{
    Succeeded,
    Failed,
    Skipped,

    /// <summary>
    /// Not built because an optional source table it reads does not exist yet (or an upstream model
    /// waits for one): an expected state, not a failure; the model builds once the table appears.
    /// </summary>
    Waiting,
}

/// <summary>What a run was asked to do.</summary>
public sealed record RunRequest
{
    /// <summary>A model selector (see <see cref="Models.ModelProject.Select"/>); null: every model.</summary>
    public string? Select { get; init; }

    public bool FullRefresh { get; init; }

    /// <summary>Backfill: the first and last day (inclusive) to re-build in incremental models.</summary>
    public DateOnly? From { get; init; }

    public DateOnly? To { get; init; }

    /// <summary>Run each model's data tests after it is built.</summary>
    public bool Test { get; init; } = true;

    /// <summary>Only run data tests, build nothing (the <c>test</c> command).</summary>
    public bool TestOnly { get; init; }

    public string Trigger { get; init; } = "manual";

    /// <summary>Also rebuild, after each incremental model's build, its days that late rows arrived for (scheduled runs).</summary>
    public bool RepairLateDays { get; init; }
}

/// <summary>One model's part in a run.</summary>
public sealed record ModelRunResult(
    string Model,
    ModelRunStatus Status,
    long Rows,
    string? Error,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    IReadOnlyList<DataTestResult> Tests)
{
    public string? Note { get; init; }

    public TimeSpan Duration => FinishedAt - StartedAt;

    /// <summary>The status as the history, metrics and command line spell it: succeeded, failed, skipped, waiting.</summary>
    public string StatusName => Status.ToString().ToLowerInvariant();

    /// <summary>A data test failed on a model that blocks its dependents when that happens.</summary>
    public bool BlocksDependents { get; init; }

    /// <summary>Runs of late days rebuilt after the build (<see cref="RunRequest.RepairLateDays"/>), each also a <c>repair</c> row of the history.</summary>
    public IReadOnlyList<DayRepair> Repairs { get; init; } = [];
}

/// <summary>One run of consecutive days [First, Last] of a model rebuilt because rows arrived for them after their last build.</summary>
public sealed record DayRepair(DateOnly First, DateOnly Last, ModelRunStatus Status, long Rows, TimeSpan Duration, string? Error);

public sealed record RunReport(string RunId, IReadOnlyList<ModelRunResult> Results)
{
    public bool Succeeded => Results.All(r => r.Status != ModelRunStatus.Failed && r.Tests.All(t => t.Passed) && r.Repairs.All(x => x.Status != ModelRunStatus.Failed));
}

/// <summary>A row of <c>transform_runs</c>; times as Unix seconds, which JSONEachRow takes for DateTime.</summary>
internal sealed record TransformRunRow(
    [property: JsonPropertyName("run_id")] string RunId,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("materialized")] string Materialized,
    [property: JsonPropertyName("trigger")] string Trigger,
    [property: JsonPropertyName("started_at")] long StartedAt,
    [property: JsonPropertyName("finished_at")] long FinishedAt,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("rows")] long Rows,
    [property: JsonPropertyName("window_start")] long WindowStart,
    [property: JsonPropertyName("window_end")] long WindowEnd,
    [property: JsonPropertyName("error")] string Error);

internal sealed record TransformTestRow(
    [property: JsonPropertyName("run_id")] string RunId,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("test")] string Test,
    [property: JsonPropertyName("checked_at")] long CheckedAt,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("failures")] long Failures,
    [property: JsonPropertyName("samples")] string Samples,
    [property: JsonPropertyName("error")] string Error);

[JsonSerializable(typeof(TransformRunRow))]
[JsonSerializable(typeof(TransformTestRow))]
internal sealed partial class RunJsonContext : JsonSerializerContext;
