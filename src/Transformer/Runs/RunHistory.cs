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
        var covered = window ?? BuildWindow.AllTime;
        var row = new TransformRunRow(
            runId, model.Name, model.MaterializedName, trigger,
            result.StartedAt.ToUnixTimeSeconds(), result.FinishedAt.ToUnixTimeSeconds(), result.StatusName,
            result.Rows, covered.Start.ToUnixTimeSeconds(), covered.End.ToUnixTimeSeconds(), result.Error ?? "");
        await TryRecordAsync(model, async () =>
        {
            await client.InsertAsync("transform_runs", [row], RunJsonContext.Default.TransformRunRow, cancellationToken);
            await InsertTestsAsync(runId, result.Tests, result.FinishedAt, cancellationToken);
        });
    }

    /// <summary>Data test results of a run that built nothing (the <c>test</c> command).</summary>
    public Task RecordTestsAsync(string runId, Model model, IReadOnlyList<DataTestResult> tests, DateTimeOffset checkedAt, CancellationToken cancellationToken) =>
        TryRecordAsync(model, () => InsertTestsAsync(runId, tests, checkedAt, cancellationToken));

    private async Task TryRecordAsync(Model model, Func<Task> record)
    {
        try
        {
            await record();
        }
        catch (Exception ex) when (ex is ClickHouseUnavailableException or ClickHouseServerException)
        {
            // The outcome stands and is in memory; only its record is missing.
            logger.LogWarning("Could not record the run of {Model}: {Error}", model.Name, ex.Message);
        }
    }

    private async Task InsertTestsAsync(string runId, IReadOnlyList<DataTestResult> tests, DateTimeOffset checkedAt, CancellationToken cancellationToken)
    {
        if (tests.Count == 0)
        {
            return;
        }

        var rows = tests.Select(t => new TransformTestRow(
            runId, t.Model, t.Test, checkedAt.ToUnixTimeSeconds(), t.Status, t.Failures,
            "[" + string.Join(",", t.Samples) + "]", t.Error ?? "")).ToList();
        await client.InsertAsync("transform_test_results", rows, RunJsonContext.Default.TransformTestRow, cancellationToken);
    }

    /// <summary>Samples are stored as one JSON array of the failing rows.</summary>
    private static List<string> SampleRows(string samples)
    {
        try
        {
            using var document = JsonDocument.Parse(samples);
            return document.RootElement.EnumerateArray().Select(e => e.GetRawText()).ToList();
        }
        catch (JsonException)
        {
            return [samples];
        }
    }

    /// <summary>Each model's latest outcome and latest data test results, as recorded.</summary>
    public async Task<IReadOnlyList<ModelState>> LoadLatestAsync(ModelProject project, CancellationToken cancellationToken)
    {
        var runs = await client.QueryAsync(
            """
            SELECT model,
                   argMax(status, (started_at, finished_at)) AS last_status,
                   toUnixTimestamp(max(finished_at)) AS last_run,
                   toUnixTimestamp(maxIf(finished_at, status = 'succeeded')) AS last_success,
                   argMax(rows, (started_at, finished_at)) AS last_rows,
                   argMax(finished_at - started_at, (started_at, finished_at)) AS last_seconds,
                   argMax(error, (started_at, finished_at)) AS last_error
            FROM transform_runs
            WHERE status NOT IN ('skipped', 'waiting')
            GROUP BY model
            """, HistoryJsonContext.Default.LatestRunRow, cancellationToken: cancellationToken);
        var tests = await client.QueryAsync(
            """
            SELECT model, test,
                   argMax(status, checked_at) AS last_status,
                   argMax(failures, checked_at) AS last_failures,
                   argMax(samples, checked_at) AS last_samples,
                   argMax(error, checked_at) AS last_error
            FROM transform_test_results
            GROUP BY model, test
            """, HistoryJsonContext.Default.LatestTestRow, cancellationToken: cancellationToken);

        var testsByModel = tests
            .Where(t => project.Contains(t.Model) && project[t.Model].Config.Tests.Any(d => d.Name == t.Test))
            .GroupBy(t => t.Model)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<DataTestResult>)g.Select(t => new DataTestResult(
                t.Model, t.Test, t.Status == "passed", t.Failures,
                SampleRows(t.Samples), t.Error.Length == 0 ? null : t.Error)).ToList());

        return runs.Where(r => project.Contains(r.Model)).Select(r =>
        {
            var modelTests = testsByModel.GetValueOrDefault(r.Model) ?? [];
            return new ModelState(
                r.Model, r.Status, DateTimeOffset.FromUnixTimeSeconds(r.LastRun),
                r.LastSuccess > 0 ? DateTimeOffset.FromUnixTimeSeconds(r.LastSuccess) : null,
                r.Rows, TimeSpan.FromSeconds(r.Seconds), r.Error.Length == 0 ? null : r.Error, modelTests,
                project[r.Model].BlocksDependents(modelTests));
        }).ToList();
    }
}

internal sealed record LatestRunRow(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("last_status")] string Status,
    [property: JsonPropertyName("last_run")] long LastRun,
    [property: JsonPropertyName("last_success")] long LastSuccess,
    [property: JsonPropertyName("last_rows")] long Rows,
    [property: JsonPropertyName("last_seconds")] long Seconds,
    [property: JsonPropertyName("last_error")] string Error);

internal sealed record LatestTestRow(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("test")] string Test,
    [property: JsonPropertyName("last_status")] string Status,
    [property: JsonPropertyName("last_failures")] long Failures,
    [property: JsonPropertyName("last_samples")] string Samples,
    [property: JsonPropertyName("last_error")] string Error);

[JsonSerializable(typeof(LatestRunRow))]
[JsonSerializable(typeof(LatestTestRow))]
internal sealed partial class HistoryJsonContext : JsonSerializerContext;
