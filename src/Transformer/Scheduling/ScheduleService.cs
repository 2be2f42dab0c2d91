using Microsoft.Extensions.Options;
using Platform.ClickHouse;
using Transformer.Runs;

namespace Transformer.Scheduling;

/// <summary>When each schedule group last ran and runs next, for the status endpoint.</summary>
public sealed record GroupSchedule(string Group, TimeSpan Interval, DateTimeOffset? LastRunAt, DateTimeOffset? NextRunAt, string? LastRunId);

/// <summary>
/// Applies the Transformer's own migrations, builds every model once, then runs each schedule group
/// on its interval. A group's runs never overlap (the loop awaits each one); the runner keeps two
/// groups, or a group and a command, from building one model at once.
/// </summary>
public sealed class ScheduleService(
    ModelRunner runner, ClickHouseMigrator migrator, IOptions<TransformerOptions> options, TimeProvider time, ILogger<ScheduleService> logger)
    : BackgroundService
{
    public const string Component = "transformer";

    /// <summary>The Transformer's own tables: run history, test results, retention log.</summary>
    public static IReadOnlyList<ClickHouseMigration> Migrations { get; } = ClickHouseMigration.FromAssembly(typeof(ScheduleService).Assembly);

    private readonly Dictionary<string, GroupSchedule> _groups = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the migrations are applied (readiness waits for it).</summary>
    public Task Ready => _ready.Task;

    public IReadOnlyList<GroupSchedule> Groups
    {
        get
        {
            lock (_groups)
            {
                return _groups.Values.OrderBy(g => g.Group, StringComparer.Ordinal).ToList();
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await migrator.ApplyUntilDoneAsync(Migrations, Component, onRetry: null, stoppingToken);
        _ready.TrySetResult();
        if (!options.Value.ScheduleEnabled)
        {
            logger.LogInformation("Scheduled runs are off (Transformer:ScheduleEnabled); models build only on demand");
            return;
        }

        var groups = options.Value.Schedules.Where(s => s.Value > TimeSpan.Zero && runner.Project.Models.Any(m => m.Config.Group == s.Key)).ToList();
        foreach (var (group, interval) in groups)
        {
            Update(group, interval, null, time.GetUtcNow(), null);
        }

        // Everything once at start, in dependency order, so heavy models need not wait a whole interval for their inputs.
        await RunSafelyAsync(new RunRequest { Trigger = "startup", RepairLateDays = true }, stoppingToken);
        await Task.WhenAll(groups.Select(g => RunGroupAsync(g.Key, g.Value, stoppingToken)));
    }

    private async Task RunGroupAsync(string group, TimeSpan interval, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        Update(group, interval, null, time.GetUtcNow() + interval, null);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var started = time.GetUtcNow();
                var report = await RunSafelyAsync(new RunRequest { Select = $"group:{group}", Trigger = $"schedule:{group}", RepairLateDays = true }, stoppingToken);
                Update(group, interval, started, time.GetUtcNow() + interval, report?.RunId);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task<RunReport?> RunSafelyAsync(RunRequest request, CancellationToken stoppingToken)
    {
        try
        {
            var report = await runner.RunAsync(request, stoppingToken);
            logger.LogInformation(
                "Run {RunId} ({Trigger}): {Succeeded} built, {Failed} failed, {Skipped} skipped, {Waiting} waiting for a source, {FailedTests} data tests failed",
                report.RunId, request.Trigger,
                report.Results.Count(r => r.Status == ModelRunStatus.Succeeded), report.Results.Count(r => r.Status == ModelRunStatus.Failed),
                report.Results.Count(r => r.Status == ModelRunStatus.Skipped), report.Results.Count(r => r.Status == ModelRunStatus.Waiting), report.Results.Sum(r => r.Tests.Count(t => !t.Passed)));
            return report;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogError(ex, "Run ({Trigger}) failed as a whole; the next one retries", request.Trigger);
            return null;
        }
    }

    private void Update(string group, TimeSpan interval, DateTimeOffset? lastRun, DateTimeOffset? nextRun, string? runId)
    {
        lock (_groups)
        {
            var previous = _groups.GetValueOrDefault(group);
            _groups[group] = new GroupSchedule(group, interval, lastRun ?? previous?.LastRunAt, nextRun, runId ?? previous?.LastRunId);
        }
    }
}
