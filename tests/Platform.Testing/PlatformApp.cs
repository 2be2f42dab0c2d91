using System.Diagnostics;
using AppHost;
using AppHost.Lifecycle;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Platform.Testing;

/// <summary>What a test reads of one resource: its connection string or URL, and whether it is an existing server.</summary>
public sealed record ResourceView(IResource Resource, string? ConnectionString, string? Url)
{
    /// <summary>True when configuration pointed the resource at an existing server (<c>ConnectionStrings:NAME</c>).</summary>
    public bool IsExternal => Resource is IResourceWithConnectionString
        and not (ExecutableResource or AppHost.Infrastructure.KafkaDevBrokerResource or AppHost.Infrastructure.PostgresProcessDatabaseResource);
}

/// <summary>
/// The running platform as a test drives it: the AppHost's model started by Aspire.Hosting.Testing,
/// resources by name, and the faults tests inject (stop, start, SIGKILL).
/// </summary>
public sealed class PlatformApp(DistributedApplication app, PlatformOptions options) : IAsyncDisposable
{
    public DistributedApplication Aspire { get; } = app;

    public PlatformOptions Options { get; } = options;

    public string EndpointsFile => Options.EndpointsFile;

    private DistributedApplicationModel Model => Aspire.Services.GetRequiredService<DistributedApplicationModel>();

    private ResourceNotificationService Notifications => Aspire.Services.GetRequiredService<ResourceNotificationService>();

    /// <summary>
    /// A builder for part of the platform (one server, say) declared with the AppHost's own extensions,
    /// on the AppHost assembly's DCP and dashboard settings.
    /// </summary>
    public static IDistributedApplicationBuilder CreatePartialBuilder() =>
        DistributedApplication.CreateBuilder(new DistributedApplicationOptions
        {
            Args = [],
            DisableDashboard = true,
            AssemblyName = typeof(PlatformOptions).Assembly.GetName().Name,
        });

    /// <summary>Starts the AppHost's model on a state folder and waits until it is ready (endpoints.json written).</summary>
    public static async Task<PlatformApp> StartAsync(string stateDirectory, bool fresh, bool demo,
        IReadOnlyDictionary<string, string?> configuration, CancellationToken cancellationToken)
    {
        string[] args =
        [
            $"--Platform:StateDirectory={stateDirectory}",
            $"--Platform:Fresh={fresh}",
            $"--Platform:Demo={demo}",
            "--Platform:FixedPorts=false",
            .. configuration.Where(c => c.Value is not null).Select(c => $"--{c.Key}={c.Value}"),
        ];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(args,
            (options, _) => options.DisableDashboard = true, cancellationToken);
        var aspire = await builder.BuildAsync(cancellationToken);
        var app = new PlatformApp(aspire, aspire.Services.GetRequiredService<PlatformOptions>());
        try
        {
            await aspire.StartAsync(cancellationToken);
            while (!File.Exists(app.EndpointsFile))
            {
                await Task.Delay(200, cancellationToken);
            }
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return app;
    }

    public ResourceView this[string name]
    {
        get
        {
            var resource = Model.Resources.SingleOrDefault(r => r.Name == name) ?? throw new KeyNotFoundException($"The model has no resource '{name}'.");
            var connectionString = resource is IResourceWithConnectionString withConnection
                ? withConnection.GetConnectionStringAsync().AsTask().GetAwaiter().GetResult()
                : null;
            var url = resource is IResourceWithEndpoints withEndpoints && withEndpoints.GetEndpoints().Any(e => e.EndpointName == "http")
                ? withEndpoints.GetEndpoint("http").Url
                : null;
            return new ResourceView(resource, connectionString, url);
        }
    }

    public T Resource<T>(string name) where T : IResource => (T)this[name].Resource;

    /// <summary>A generated secret the AppHost handed a service (admin-token, jwt-signing-key).</summary>
    public string Secret(string name) => Resource<ParameterResource>(name).GetValueAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult()!;

    /// <summary>Stops the resource with SIGTERM: it shuts down cleanly, and the supervisor leaves it stopped.</summary>
    public async Task StopResourceAsync(string name)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        if (!await ResourceProcess.StopAsync(Notifications, name, timeout.Token))
        {
            throw new InvalidOperationException($"{name} is not running (state {StateOf(name)}).");
        }
    }

    /// <summary>Starts a stopped resource (or waits for one the supervisor is bringing back) until it is healthy.</summary>
    public async Task StartResourceAsync(string name, TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        if (StateOf(name) is not ("Running" or "Starting" or "Waiting"))
        {
            var commands = Aspire.Services.GetRequiredService<ResourceCommandService>();
            var result = await commands.ExecuteCommandAsync(this[name].Resource, KnownResourceCommands.StartCommand, cancel.Token);
            if (!result.Success && StateOf(name) is not ("Running" or "Starting"))
            {
                throw new InvalidOperationException($"{name} did not start: {result.Message}");
            }
        }

        await WaitUntilHealthyAsync(name, cancel.Token);
    }

    /// <summary>Waits until the resource runs and its health checks pass.</summary>
    public async Task WaitUntilHealthyAsync(string name, CancellationToken cancellationToken)
    {
        await Notifications.WaitForResourceAsync(name, e => e.Snapshot.State?.Text == KnownResourceStates.Running
            && e.Snapshot.HealthStatus == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, cancellationToken);
    }

    /// <summary>
    /// SIGKILL to the resource's processes (for a service, <c>dotnet run</c> and the service under it):
    /// no shutdown code runs, as when the kernel's OOM killer or a crash ends it. The supervisor then restarts it.
    /// Returns the PIDs killed.
    /// </summary>
    public IReadOnlyList<int> KillResource(string name)
    {
        var pid = ProcessIdOf(name) ?? throw new InvalidOperationException($"{name} has no running process.");
        var tree = ResourceProcess.Descendants(pid).Prepend(pid).ToList();
        foreach (var process in tree.AsEnumerable().Reverse())
        {
            try
            {
                Process.GetProcessById(process).Kill();
            }
            catch (ArgumentException)
            {
                // already gone
            }
        }

        return tree;
    }

    /// <summary>Kills the resource, then waits until it is running and healthy again (whoever brought it back).</summary>
    public async Task KillResourceAsync(string name, bool waitForRestart = false)
    {
        var before = ProcessIdOf(name);
        KillResource(name);
        // Until DCP has seen the exit, the old PID is still the resource's.
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Notifications.WaitForResourceAsync(name, e => e.Snapshot.State?.Text != KnownResourceStates.Running
            || ProcessIdOf(e.Snapshot) != before, cancel.Token);
        if (waitForRestart)
        {
            using var restart = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await Notifications.WaitForResourceAsync(name, e => ProcessIdOf(e.Snapshot) is { } pid && pid != before
                && e.Snapshot.State?.Text == KnownResourceStates.Running, restart.Token);
            await WaitUntilHealthyAsync(name, restart.Token);
        }
    }

    public string? StateOf(string name) => Current(name).Snapshot.State?.Text;

    public int? ProcessIdOf(string name) => ProcessIdOf(Current(name).Snapshot);

    /// <summary>The resource's latest snapshot (every resource has one from the start).</summary>
    private ResourceEvent Current(string name) =>
        Notifications.WaitForResourceAsync(name, _ => true).GetAwaiter().GetResult();

    /// <summary>What the resource has logged so far (the AppHost copies it into STATE/logs).</summary>
    public string LogOf(string name)
    {
        var file = Path.Combine(Options.LogDirectory, name + ".log");
        if (!File.Exists(file))
        {
            return "";
        }

        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await Aspire.StopAsync(timeout.Token);
        }
        finally
        {
            await Aspire.DisposeAsync();
        }
    }

    private static int? ProcessIdOf(CustomResourceSnapshot snapshot) => ResourceProcess.ProcessId(snapshot);
}
