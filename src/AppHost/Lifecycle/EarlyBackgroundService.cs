using Microsoft.Extensions.Hosting;

namespace AppHost.Lifecycle;

/// <summary>
/// A background service that runs from before Aspire's orchestrator starts. Hosted services start one
/// after another, and the orchestrator's start returns only once every resource is created, WaitFor
/// included: a supervisor started after it would never see a service crash during start-up, and the
/// services waiting for that one would wait for ever.
/// </summary>
internal abstract class EarlyBackgroundService : BackgroundService, IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => base.StartAsync(cancellationToken);

    public override Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
