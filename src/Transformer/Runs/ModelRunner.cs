using System.Collections.Concurrent;
using Platform.ClickHouse;
using Transformer.Building;
using Transformer.DataTests;
using Transformer.Models;
using Transformer.Repairs;

namespace Transformer.Runs;

/// <summary>
/// Runs selected models in dependency order, independent ones side by side up to
/// <see cref="TransformerOptions.MaxParallelism"/>, never two builds of one model at once. A model
/// whose upstream failed (now or at its last run), or failed a blocking data test, is skipped rather
/// than built on stale inputs; the next run tries again.
/// </summary>
public sealed class ModelRunner
{
    private readonly ModelProject _project;
    private readonly TransformerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Materializer _materializer;
    private readonly DataTestRunner _tests;
    private readonly RunHistory _history;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _building = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _seeding = new(1, 1);
    private readonly TransformerMetrics? _metrics;
    private readonly ClickHouseClient _client;
    private readonly LateDayRepair _repair;

    public ModelRunner(ClickHouseClient client, ModelProject project, TransformerOptions options, TimeProvider time, ILogger<ModelRunner> logger, TransformerMetrics? metrics = null)
    {
        _metrics = metrics;
        _client = client;
        _project = project;
        _options = options;
        _time = time;
        _logger = logger;
        _materializer = new Materializer(client, options, logger);
        _tests = new DataTestRunner(client, options);
        _history = new RunHistory(client, logger);
        _repair = new LateDayRepair(client, project, options.Repair);
    }

    public ModelProject Project => _project;

    /// <summary>Each model's latest outcome, for the status endpoint and health.</summary>
    public ModelStates States { get; } = new();

    public async Task<RunReport> RunAsync(RunRequest request, CancellationToken cancellationToken = default)
    {
        var selected = _project.Select(request.Select);
        var runId = Guid.CreateVersion7().ToString("N");
        await SeedStatesAsync(cancellationToken);

        var inRun = selected.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var done = new Dictionary<string, ModelRunResult>(StringComparer.Ordinal);
        var pending = selected.ToList();
        var running = new Dictionary<Task<ModelRunResult>, Model>();
        while (pending.Count > 0 || running.Count > 0)
        {
            foreach (var model in pending.ToList())
            {
                if (running.Count >= _options.MaxParallelism)
                {
                    break;
                }

                if (_project.Ancestors(model.Name).Any(a => inRun.Contains(a) && !done.ContainsKey(a)))
                {
                    continue;
                }

                pending.Remove(model);
                running.Add(RunModelAsync(runId, model, request, cancellationToken), model);
            }

            var finished = await Task.WhenAny(running.Keys);
            running.Remove(finished);
            var result = await finished;
            done[result.Model] = result;
        }

        return new RunReport(runId, selected.Select(m => done[m.Name]).ToList());
    }

    private async Task<ModelRunResult> RunModelAsync(string runId, Model model, RunRequest request, CancellationToken cancellationToken)
    {
        var started = _time.GetUtcNow();
        if (await WaitingForAsync(model, cancellationToken) is { } waitingFor)
        {
            // Debug: the run summary counts waiting models, and /v1/status names what each waits for.
            _logger.LogDebug("Not building {Model}: {Reason}", model.Name, waitingFor);
            var waiting = new ModelRunResult(model.Name, ModelRunStatus.Waiting, 0, waitingFor, started, started, []);
            States.Record(waiting);
            _metrics?.Record(waiting);
            await _history.RecordAsync(runId, request.Trigger, model, waiting, null, CancellationToken.None);
            return waiting;
        }

        if (request.TestOnly)
        {
            var tests = await _tests.RunAsync(model, started, cancellationToken);
            var blocks = model.BlocksDependents(tests);
            States.RecordTests(model.Name, tests, blocks);
            await _history.RecordTestsAsync(runId, model, tests, _time.GetUtcNow(), cancellationToken);
            LogTests(model, tests);
            return new ModelRunResult(model.Name, ModelRunStatus.Succeeded, 0, null, started, _time.GetUtcNow(), tests) { BlocksDependents = blocks, Note = "tests only" };
        }

        if (UnusableUpstream(model) is { } reason)
        {
            _logger.LogWarning("Skipping {Model}: {Reason}", model.Name, reason);
            var skipped = new ModelRunResult(model.Name, ModelRunStatus.Skipped, 0, reason, started, started, []);
            States.Record(skipped);
            _metrics?.Record(skipped);
            await _history.RecordAsync(runId, request.Trigger, model, skipped, null, CancellationToken.None);
            return skipped;
        }

        var gate = _building.GetOrAdd(model.Name, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            started = _time.GetUtcNow();
            ModelRunResult result;
            BuildWindow? window = null;
            try
            {
                var build = await BuildAsync(model, request, started, cancellationToken);
                window = build.Window;
                IReadOnlyList<DayRepair> repairs = request.RepairLateDays && _options.Repair.Enabled && model.Config.Materialized == Materialization.Incremental
                    ? await RepairLateDaysAsync(runId, model, cancellationToken)
                    : [];

                var tests = request.Test ? await _tests.RunAsync(model, _time.GetUtcNow(), cancellationToken) : [];
                result = new ModelRunResult(model.Name, ModelRunStatus.Succeeded, build.Rows, null, started, _time.GetUtcNow(), tests)
                {
                    Note = build.Note,
                    BlocksDependents = model.BlocksDependents(tests),
                    Repairs = repairs,
                };
                _logger.LogInformation(
                    "Built {Model} ({Materialized}, {Window}{Note}) in {Duration} ms: {Rows} rows",
                    model.Name, model.Config.Materialized, build.Window, build.Note is null ? "" : $", {build.Note}", (long)result.Duration.TotalMilliseconds, build.Rows);
                LogTests(model, tests);
            }
            catch (Exception ex) when (ex is ClickHouseServerException or ClickHouseUnavailableException or HttpRequestException
                                       || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                result = new ModelRunResult(model.Name, ModelRunStatus.Failed, 0, ex.Message, started, _time.GetUtcNow(), []);
                _logger.LogError("Building {Model} failed; its previous data stays in place: {Error}", model.Name, ex.Message);
            }

            States.Record(result);
            _metrics?.Record(result);
            await _history.RecordAsync(runId, request.Trigger, model, result, window, CancellationToken.None);
            return result;
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<BuildResult> BuildAsync(Model model, RunRequest request, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (request is not { From: { } from, To: { } to } || model.Config.Materialized != Materialization.Incremental)
        {
            return await _materializer.BuildAsync(model, now, window: null, request.FullRefresh, cancellationToken);
        }

        return new BuildResult(await BuildDaysAsync(model, now, from, to, cancellationToken), BuildWindow.Days(from, to), "backfill");
    }

    /// <summary>
    /// Rebuilds the model's days before its regular window that rows arrived for after their last build (and the days
    /// those rows reach), oldest first, at most <see cref="LateDayRepairOptions.MaxDaysPerRun"/>; each run of
    /// consecutive days is one <c>repair</c> row of the history. Runs after the regular build, under the model's gate,
    /// so the run's upstream repairs are already recorded. A failure is recorded and logged; the next run tries again.
    /// </summary>
    private async Task<IReadOnlyList<DayRepair>> RepairLateDaysAsync(string runId, Model model, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        IReadOnlyList<DateOnly> due;
        try
        {
            var planner = await _repair.PlanAsync(now, cancellationToken);
            var regularFrom = DateOnly.FromDateTime(BuildWindow.Lookback(now, model.LookbackDays(_options)).Start.UtcDateTime);
            due = planner?.DueDays(model, regularFrom) ?? [];
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever went wrong, the regular build stands; only the repair waits for the next run.
            _logger.Log(ex is ClickHouseServerException or ClickHouseUnavailableException or HttpRequestException ? LogLevel.Warning : LogLevel.Error, ex,
                "Could not tell which days of {Model} need a repair; the next run tries again: {Error}", model.Name, ex.Message);
            return [];
        }

        if (due.Count == 0)
        {
            return [];
        }

        var repairs = new List<DayRepair>();
        var taken = due.Take(_options.Repair.MaxDaysPerRun).ToList();
        _logger.LogInformation("Repairing {Days} days of {Model} that rows arrived for after their last build ({Left} more left for the next runs): {Ranges}",
            taken.Count, model.Name, due.Count - taken.Count, string.Join(", ", LateDayRepair.Ranges(taken).Select(r => $"{r.First:yyyy-MM-dd}..{r.Last:yyyy-MM-dd}")));
        foreach (var (first, last) in LateDayRepair.Ranges(taken))
        {
            var started = _time.GetUtcNow();
            var window = BuildWindow.Days(first, last);
            ModelRunResult result;
            try
            {
                var rows = await BuildDaysAsync(model, started, first, last, cancellationToken);
                result = new ModelRunResult(model.Name, ModelRunStatus.Succeeded, rows, null, started, _time.GetUtcNow(), []) { Note = "repair of late days" };
                _logger.LogInformation("Repaired {Model} {Window} in {Duration} ms: {Rows} rows", model.Name, window, (long)result.Duration.TotalMilliseconds, rows);
            }
            catch (Exception ex) when (ex is ClickHouseServerException or ClickHouseUnavailableException or HttpRequestException
                                       || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                result = new ModelRunResult(model.Name, ModelRunStatus.Failed, 0, ex.Message, started, _time.GetUtcNow(), []);
                _logger.LogError("Repairing {Model} {Window} failed; its days stay as they were and the next run tries again: {Error}", model.Name, window, ex.Message);
            }

            _metrics?.Record(result);
            await _history.RecordAsync(runId, RepairTrigger, model, result, window, CancellationToken.None);
            repairs.Add(new DayRepair(first, last, result.Status, result.Rows, result.Duration, result.Error));
            if (result.Status == ModelRunStatus.Failed)
            {
                break;
            }
        }

        return repairs;
    }

    /// <summary>The trigger of the history rows a late-day repair writes.</summary>
    public const string RepairTrigger = "repair";

    /// <summary>Days [first, last] of an incremental model, a week at a time, so one statement never holds months of data.</summary>
    private async Task<long> BuildDaysAsync(Model model, DateTimeOffset now, DateOnly from, DateOnly to, CancellationToken cancellationToken)
    {
        long rows = 0;
        for (var first = from; first <= to; first = first.AddDays(7))
        {
            var last = first.AddDays(6) < to ? first.AddDays(6) : to;
            rows += (await _materializer.BuildAsync(model, now, BuildWindow.Days(first, last), fullRefresh: false, cancellationToken)).Rows;
        }

        return rows;
    }

    /// <summary>
    /// Why the model cannot be built yet though nothing is wrong: an optional source table it reads
    /// does not exist (say, a <c>cdc_*</c> table before the CDC bridge applied its first change), or
    /// an upstream model has never been built for that reason. Null when it can be built.
    /// </summary>
    private async Task<string?> WaitingForAsync(Model model, CancellationToken cancellationToken)
    {
        var ancestors = _project.Ancestors(model.Name);
        if (_project.Models.FirstOrDefault(m => ancestors.Contains(m.Name) && States[m.Name] is { Status: ModelState.WaitingForSource }) is { } upstream)
        {
            return $"upstream {upstream.Name} waits for its source: {States[upstream.Name]!.Error}";
        }

        var optional = _project.OptionalSourcesOf(model);
        if (optional.Count == 0)
        {
            return null;
        }

        string[] existing;
        try
        {
            existing = (await _client.QueryScalarAsync(
                $"SELECT arrayStringConcat(groupArray(name), ',') FROM system.tables WHERE database = {ClickHouseSql.Literal(_client.Settings.Database)} " +
                $"AND name IN ({string.Join(", ", optional.Select(ClickHouseSql.Literal))})",
                cancellationToken: cancellationToken)).Split(',', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception ex) when (ex is ClickHouseServerException or ClickHouseUnavailableException or HttpRequestException
                                   || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null; // Cannot tell (ClickHouse down): the build itself then fails and reports why.
        }

        var missing = optional.Except(existing, StringComparer.Ordinal).ToList();
        return missing.Count switch
        {
            0 => null,
            1 => $"optional source {missing[0]} does not exist yet (its producer creates it with its first data)",
            _ => $"optional sources {string.Join(", ", missing)} do not exist yet (their producer creates them with their first data)",
        };
    }

    private string? UnusableUpstream(Model model)
    {
        var ancestors = _project.Ancestors(model.Name);
        foreach (var upstream in _project.Models.Where(m => ancestors.Contains(m.Name)))
        {
            var state = States[upstream.Name];
            if (state?.Status == "failed")
            {
                return $"upstream {upstream.Name} failed: {state.Error}";
            }

            if (state?.LastSuccessAt is null)
            {
                return $"upstream {upstream.Name} has not been built yet";
            }

            if (state.BlocksDependents)
            {
                return $"upstream {upstream.Name} failed a data test that blocks its dependents ({string.Join(", ", state.Tests.Where(t => !t.Passed).Select(t => t.Test))})";
            }
        }

        return null;
    }

    private void LogTests(Model model, IReadOnlyList<DataTestResult> tests)
    {
        foreach (var test in tests.Where(t => !t.Passed))
        {
            _logger.LogWarning(
                "Data test {Test} of {Model} failed: {Failures} rows{Error}. Samples: {Samples}",
                test.Test, model.Name, test.Failures, test.Error is null ? "" : $" ({test.Error})", string.Join(" ", test.Samples));
        }
    }

    private async Task SeedStatesAsync(CancellationToken cancellationToken)
    {
        if (States.Seeded)
        {
            return;
        }

        await _seeding.WaitAsync(cancellationToken);
        try
        {
            if (!States.Seeded)
            {
                States.Seed(await _history.LoadLatestAsync(_project, cancellationToken));
            }
        }
        catch (Exception ex) when (ex is ClickHouseServerException or ClickHouseUnavailableException)
        {
            _logger.LogWarning("Could not read the run history yet: {Error}", ex.Message);
        }
        finally
        {
            _seeding.Release();
        }
    }
}
