using Microsoft.Extensions.Configuration;

namespace AppHost.Hosting;

public enum ResourceState
{
    Pending,
    Starting,
    Running,
    Finished,
    Failed,
    Stopped,
}

/// <summary>What a resource needs from the host while it starts and runs.</summary>
public sealed class ResourceContext(AppHostOptions options, IConfiguration configuration, LogSink logs, ProcessTracker processes, PortAllocator ports)
{
    public AppHostOptions Options { get; } = options;

    /// <summary>The AppHost's configuration: where <c>ConnectionStrings:NAME</c> points a resource at an existing server.</summary>
    public IConfiguration Configuration { get; } = configuration;

    public LogSink Logs { get; } = logs;

    public ProcessTracker Processes { get; } = processes;

    public PortAllocator Ports { get; } = ports;

    public string StateDirectory(string resource) => Directory.CreateDirectory(Path.Combine(Options.StateDirectory, resource)).FullName;

    public void Log(string resource, string message) => Logs.Write(resource, message);
}

/// <summary>
/// One part of the application model: an infrastructure server, a database, a service, or a one-shot task.
/// <see cref="StartAsync"/> returns when the resource is healthy (or finished, for a task).
/// </summary>
public abstract class Resource(string name)
{
    public string Name { get; } = name;

    public List<Resource> WaitsFor { get; } = [];

    public List<Resource> References { get; } = [];

    public ResourceState State { get; internal set; } = ResourceState.Pending;

    /// <summary>True when configuration points this resource at an existing server, which the AppHost then does not start.</summary>
    public bool IsExternal { get; protected set; }

    /// <summary>What the status table shows for the resource (a URL or a short summary).</summary>
    public virtual string? Display => ConnectionString;

    /// <summary>The connection string handed to services that reference this resource, once known.</summary>
    public virtual string? ConnectionString => null;

    /// <summary>How long the resource may take to become healthy.</summary>
    public virtual TimeSpan StartTimeout => TimeSpan.FromSeconds(90);

    /// <summary>Chooses ports before anything starts, so the wiring is known up front.</summary>
    public virtual void AllocatePorts(ResourceContext context)
    {
    }

    /// <summary>The environment variables a service referencing this resource receives, in .NET Aspire's key shapes.</summary>
    public virtual IEnumerable<KeyValuePair<string, string>> ReferenceEnvironment()
    {
        var connectionString = ConnectionString
            ?? throw new InvalidOperationException($"The connection string of '{Name}' is known only once it runs; wait for it before referencing it.");
        yield return new($"ConnectionStrings__{Name}", connectionString);
    }

    public abstract Task StartAsync(ResourceContext context, CancellationToken cancellationToken);

    public virtual Task StopAsync(ResourceContext context) => Task.CompletedTask;
}

/// <summary>A tool the platform needs is not installed; the message names the Debian package.</summary>
public sealed class MissingDependencyException(string message) : Exception(message);

/// <summary>A resource did not become healthy in time, or exited while starting.</summary>
public sealed class ResourceFailedException(string resource, string message) : Exception(message)
{
    public string Resource { get; } = resource;
}

public static class ResourceExtensions
{
    public static T WaitFor<T>(this T resource, Resource dependency) where T : Resource
    {
        resource.WaitsFor.Add(dependency);
        return resource;
    }

    public static T WithReference<T>(this T resource, Resource dependency) where T : Resource
    {
        resource.References.Add(dependency);
        return resource;
    }
}
