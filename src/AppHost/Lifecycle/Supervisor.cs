using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AppHost.Lifecycle;

/// <summary>
/// Restarts a service or server that exits without being asked: DCP reports it "Finished" with a
/// non-zero exit code (a stop that was asked for exits 0, or is "Terminated"), after a backoff that doubles from one second. A resource that
/// exits <see cref="CrashLoopLimit"/> times within <see cref="CrashLoopWindow"/> is left stopped, and
/// the AppHost's log and the resource's own log in the dashboard say why. A process that ran
/// <see cref="StableRun"/> before it exited was not crash-looping: its history starts afresh (as Kubernetes
/// resets a pod's backoff), so an OOM kill now and then never leaves a healthy service stopped.
/// </summary>
internal sealed class Supervisor(
    DistributedApplicationModel model,
    ResourceNotificationService notifications,
    ResourceCommandService commands,
    ResourceLoggerService resourceLogs,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<Supervisor> logger) : EarlyBackgroundService
{
    public const int CrashLoopLimit = 5;
    public static readonly TimeSpan CrashLoopWindow = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan StableRun = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);

    private readonly Dictionary<string, List<DateTimeOffset>> _exits = [];
    private readonly HashSet<string> _restarting = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var supervised = model.Resources.Where(r => r is ProjectResource or ExecutableResource).ToHashSet();
        await foreach (var change in notifications.WatchAsync(stoppingToken))
        {
            // A stop asked for (dashboard, tests, Ctrl-C) ends in a clean exit (0); a crash, an OOM kill or a failed start does not.
            if (!supervised.Contains(change.Resource) || change.Snapshot.State?.Text != "Finished" || change.Snapshot.ExitCode is null or 0
                || ResourceProcess.WasAskedToStop(change.Snapshot) || lifetime.ApplicationStopping.IsCancellationRequested || !_restarting.Add(change.ResourceId))
            {
                continue;
            }

            var ran = change.Snapshot is { StartTimeStamp: { } started, StopTimeStamp: { } stopped } ? stopped - started : TimeSpan.Zero;
            _ = RestartAsync(change.Resource, change.ResourceId, change.Snapshot.ExitCode, ran, stoppingToken);
        }
    }

    private async Task RestartAsync(IResource resource, string resourceId, int? exitCode, TimeSpan ran, CancellationToken stoppingToken)
    {
        var resourceLog = resourceLogs.GetLogger(resourceId);
        try
        {
            var now = time.GetUtcNow();
            var exits = _exits.TryGetValue(resourceId, out var known) ? known : _exits[resourceId] = [];
            lock (exits)
            {
                exits.RemoveAll(at => now - at > CrashLoopWindow || ran >= StableRun);
                exits.Add(now);
            }

            if (exits.Count >= CrashLoopLimit)
            {
                logger.LogError("{Resource} exited {Count} times within {Minutes} minutes (last exit code {ExitCode}); not restarting it again. "
                    + "Read its log, fix the cause and start it from the dashboard.", resource.Name, exits.Count, CrashLoopWindow.TotalMinutes, exitCode);
                resourceLog.LogError("Crash loop: exited {Count} times within {Minutes} minutes; the AppHost stopped restarting it.", exits.Count, CrashLoopWindow.TotalMinutes);
                return;
            }

            var backoff = FirstBackoff * Math.Pow(2, exits.Count - 1);
            logger.LogWarning("{Resource} exited unexpectedly (exit code {ExitCode}); restarting it in {Backoff} s (restart {Count} of at most {Limit} within {Minutes} minutes).",
                resource.Name, exitCode, backoff.TotalSeconds, exits.Count, CrashLoopLimit - 1, CrashLoopWindow.TotalMinutes);
            resourceLog.LogWarning("Exited unexpectedly (exit code {ExitCode}); the AppHost restarts it in {Backoff} s.", exitCode, backoff.TotalSeconds);
            await Task.Delay(backoff, time, stoppingToken);
            if (lifetime.ApplicationStopping.IsCancellationRequested)
            {
                return;
            }

            var result = await commands.ExecuteCommandAsync(resourceId, KnownResourceCommands.StartCommand, stoppingToken);
            if (!result.Success)
            {
                logger.LogError("{Resource} could not be restarted: {Error}", resource.Name, result.Message);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            _restarting.Remove(resourceId);
        }
    }
}
