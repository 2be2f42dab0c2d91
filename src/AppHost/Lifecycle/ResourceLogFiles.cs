using Microsoft.Extensions.Hosting;

namespace AppHost.Lifecycle;

/// <summary>
/// Copies every resource's console output into <c>STATE/logs/NAME.log</c> as it comes, so a run can
/// be read (and grepped) after the dashboard has gone.
/// </summary>
internal sealed class ResourceLogFiles(DistributedApplicationModel model, ResourceLoggerService logs, PlatformOptions options) : EarlyBackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(model.Resources.Where(r => r is not ParameterResource && r is not IResourceWithParent<ProjectResource>).Select(r => CopyAsync(r, stoppingToken)));

    private async Task CopyAsync(IResource resource, CancellationToken stoppingToken)
    {
        await using var file = new StreamWriter(new FileStream(Path.Combine(options.LogDirectory, resource.Name + ".log"), FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        try
        {
            await foreach (var batch in logs.WatchAsync(resource).WithCancellation(stoppingToken))
            {
                foreach (var line in batch)
                {
                    await file.WriteLineAsync(line.Content);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
