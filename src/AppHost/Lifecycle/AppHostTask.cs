using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AppHost.Lifecycle;

/// <summary>
/// Work the AppHost does itself, shown in the dashboard like any resource: it starts once what it
/// waits for is healthy, and either finishes (a one-shot such as the demo data, which others can
/// <c>WaitForCompletion</c>) or runs until the AppHost stops.
/// </summary>
public abstract class AppHostTaskResource(string name) : Resource(name), IResourceWithWaitSupport
{
    protected abstract Task RunAsync(ILogger logger, CancellationToken cancellationToken);

    /// <summary>A line for the dashboard's resource table once the work is done.</summary>
    public virtual string? Summary => null;

    internal async Task ExecuteAsync(InitializeResourceEvent e, CancellationToken cancellationToken)
    {
        var stopping = e.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stopping);
        try
        {
            // Publishing it is what waits for the resource's WaitFor dependencies.
            await e.Eventing.PublishAsync(new BeforeResourceStartedEvent(this, e.Services), linked.Token);
            await e.Notifications.PublishUpdateAsync(this, s => s with { State = KnownResourceStates.Running, StartTimeStamp = DateTime.UtcNow });
            await RunAsync(e.Logger, linked.Token);
            await e.Notifications.PublishUpdateAsync(this, s => s with
            {
                State = KnownResourceStates.Finished, ExitCode = 0, StopTimeStamp = DateTime.UtcNow,
                Properties = Summary is { } summary ? [.. s.Properties, new("task.summary", summary)] : s.Properties,
            });
        }
        catch (OperationCanceledException) when (linked.IsCancellationRequested)
        {
            await e.Notifications.PublishUpdateAsync(this, s => s with { State = KnownResourceStates.Finished, ExitCode = 0, StopTimeStamp = DateTime.UtcNow });
        }
        catch (Exception ex)
        {
            e.Logger.LogError(ex, "{Resource} failed: {Message}", Name, ex.Message);
            await e.Notifications.PublishUpdateAsync(this, s => s with { State = KnownResourceStates.Finished, ExitCode = 1, StopTimeStamp = DateTime.UtcNow });
        }
    }
}

public static class AppHostTaskExtensions
{
    public static IResourceBuilder<T> AddTask<T>(this IDistributedApplicationBuilder builder, T task) where T : AppHostTaskResource =>
        builder.AddResource(task)
            .WithInitialState(new CustomResourceSnapshot { ResourceType = "Task", State = KnownResourceStates.NotStarted, Properties = [] })
            .ExcludeFromManifest()
            .OnInitializeResource((resource, e, ct) => resource.ExecuteAsync(e, ct));
}
