using System.Text.Json;
using System.Text.Json.Serialization;
using Platform.ClickHouse;
using Transformer.Building;
using Transformer.DataTests;
using Transformer.Models;

namespace Transformer.Runs;

/// <summary>
/// The run history in ClickHouse (<c>transform_runs</c>, <c>transform_test_results</c>): written as
/// each model finishes, read back at start so the status survives a restart.
/// </summary>
public sealed class RunHistory(ClickHouseClient client, ILogger logger)
{
    public async Task RecordAsync(string runId, string trigger, Model model, ModelRunResult result, BuildWindow? window, CancellationToken cancellationToken)
    {
        try
        {
            if (result.Status != ModelRunStatus.Skipped || result.Error is not null)
            {
                var row = new TransformRunRow(
                    runId, model.Name, model.Config.Materialized.ToString().ToLowerInvariant(), trigger,
                    result.StartedAt.ToUnixTimeSeconds(), result.FinishedAt.ToUnixTimeSeconds(), result.Status.ToString().ToLowerInvariant(),
                    result.Rows, (window ?? BuildWindow.AllTime).Start.ToUnixTimeSeconds(), (window ?? BuildWindow.AllTime).End.ToUnixTimeSeconds(),
                    result.Error ?? "");
                await client.InsertAsync("transform_runs", [row], RunJsonContext.Default.TransformRunRow, cancellationToken);
            }

            await RecordTestsAsync(runId, result.Tests, result.FinishedAt, cancellationToken);
        }
        catch (Exception ex) when (ex is ClickHouseUnavailableException or ClickHouseServerException)
        {
            // The build's outcome stands and is in memory; only its record is missing.
            logger.LogWarning("Could not record the run of {Model}: {Error}", model.Name, ex.Message);
        }
    }

    public async Task RecordTestsAsync(string runId, IReadOnlyList<DataTestResult> tests, DateTimeOffset checkedAt, CancellationToken cancellationToken)
    {
        if (tests.Count == 0)
        {
            return;
        }

        var rows = tests.Select(t => new TransformTestRow(
            runId, t.Model, t.Test, checkedAt.ToUnixTimeSeconds(), t.Status, t.Failures,
            JsonSerializer.Serialize(t.Samples.ToList(), RunJsonContext.Default.ListString), t.Error ?? "")).ToList();
        await client.InsertAsync("transform_test_results", rows, RunJsonContext.Default.TransformTestRow, cancellationToken);
    }

    /// <summary>Each model's latest outcome and latest data test results, as recorded.</summary>
    public async Task<IReadOnlyList<ModelState>> LoadLatestAsync(ModelProject project, CancellationToken cancellationToken)
    {
        var runs = await client.QueryAsync(
            """
            SELECT model,
                   argMax(status, (started_at, finished_at)) AS status,
                   toUnixTimestamp(max(finished_at)) AS last_run,
                   toUnixTimestamp(maxIf(finished_at, status = 'succeeded')) AS last_success,
                   argMax(rows, (started_at, finished_at)) AS rows,
                   argMax(finished_at - started_at, (started_at, finished_at)) AS seconds,
                   argMax(error, (started_at, finished_at)) AS error
            FROM transform_runs
            WHERE status != 'skipped'
            GROUP BY model
            """, HistoryJsonContext.Default.LatestRunRow, cancellationToken: cancellationToken);
        var tests = await client.QueryAsync(
            """
            SELECT model, test,
                   argMax(status, checked_at) AS status,
                   argMax(failures, checked_at) AS failures,
                   argMax(samples, checked_at) AS samples,
                   argMax(error, checked_at) AS error
            FROM transform_test_results
            GROUP BY model, test
            """, HistoryJsonContext.Default.LatestTestRow, cancellationToken: cancellationToken);

        var testsByModel = tests
            .Where(t => project.Contains(t.Model) && project[t.Model].Config.Tests.Any(d => d.Name == t.Test))
            .GroupBy(t => t.Model)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<DataTestResult>)g.Select(t => new DataTestResult(
                t.Model, t.Test, t.Status == "passed", t.Failures,
                JsonSerializer.Deserialize(t.Samples, RunJsonContext.Default.ListString) ?? [], t.Error.Length == 0 ? null : t.Error)).ToList());

        return runs.Where(r => project.Contains(r.Model)).Select(r =>
        {
            var modelTests = testsByModel.GetValueOrDefault(r.Model) ?? [];
            return new ModelState(
                r.Model, r.Status, DateTimeOffset.FromUnixTimeSeconds(r.LastRun),
                r.LastSuccess > 0 ? DateTimeOffset.FromUnixTimeSeconds(r.LastSuccess) : null,
                r.Rows, TimeSpan.FromSeconds(r.Seconds), r.Error.Length == 0 ? null : r.Error, modelTests,
                project[r.Model].Config.BlockDependentsOnTestFailure && modelTests.Any(t => !t.Passed));
        }).ToList();
    }
}

internal sealed record LatestRunRow(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("last_run")] long LastRun,
    [property: JsonPropertyName("last_success")] long LastSuccess,
    [property: JsonPropertyName("rows")] long Rows,
    [property: JsonPropertyName("seconds")] long Seconds,
    [property: JsonPropertyName("error")] string Error);

internal sealed record LatestTestRow(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("test")] string Test,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("failures")] long Failures,
    [property: JsonPropertyName("samples")] string Samples,
    [property: JsonPropertyName("error")] string Error);

[JsonSerializable(typeof(LatestRunRow))]
[JsonSerializable(typeof(LatestTestRow))]
internal sealed partial class HistoryJsonContext : JsonSerializerContext;
