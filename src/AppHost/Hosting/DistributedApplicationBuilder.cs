using Microsoft.Extensions.Configuration;

namespace AppHost.Hosting;

/// <summary>
/// Declares the application model, in the spirit of .NET Aspire's builder: resources, who references
/// whom (connection strings and endpoints handed over as environment variables) and who waits for whom.
/// </summary>
public sealed class DistributedApplicationBuilder(AppHostOptions options, IConfiguration configuration)
{
    private readonly List<Resource> _resources = [];

    public AppHostOptions Options { get; } = options;

    public IConfiguration Configuration { get; } = configuration;

    public IReadOnlyList<Resource> Resources => _resources;

    /// <summary>The builder for a command line: <c>--state</c>, <c>--fresh</c>, <c>--no-demo</c>, plus configuration from the environment and <c>--Key=Value</c> arguments.</summary>
    public static DistributedApplicationBuilder Create(string[] args)
    {
        var (options, remaining) = AppHostOptions.Parse(args, Path.Combine(BuildInfo.RepositoryRoot, ".platform"));
        var configuration = new ConfigurationBuilder()
            .AddEnvironmentVariables()
            .AddCommandLine(remaining)
            .Build();
        return new DistributedApplicationBuilder(options, configuration);
    }

    public T AddResource<T>(T resource) where T : Resource
    {
        if (_resources.Any(r => r.Name == resource.Name))
        {
            throw new InvalidOperationException($"A resource named '{resource.Name}' is already declared.");
        }

        _resources.Add(resource);
        return resource;
    }

    public DistributedApplication Build() => new(Options, Configuration, ResourceGraph.StartOrder(_resources));
}

/// <summary>Orders resources so that each comes after everything it waits for or references.</summary>
public static class ResourceGraph
{
    public static IReadOnlyList<Resource> StartOrder(IReadOnlyList<Resource> resources)
    {
        var declared = resources.ToHashSet();
        foreach (var resource in resources)
        {
            foreach (var dependency in Dependencies(resource).Where(d => !declared.Contains(d)))
            {
                throw new InvalidOperationException($"'{resource.Name}' depends on '{dependency.Name}', which is not part of the model.");
            }
        }

        var ordered = new List<Resource>();
        var state = new Dictionary<Resource, bool>(); // false: visiting, true: done
        foreach (var resource in resources)
        {
            Visit(resource, []);
        }

        return ordered;

        void Visit(Resource resource, List<string> path)
        {
            if (state.TryGetValue(resource, out var done))
            {
                if (!done)
                {
                    throw new InvalidOperationException($"Dependency cycle: {string.Join(" -> ", path.Append(resource.Name))}.");
                }

                return;
            }

            state[resource] = false;
            path.Add(resource.Name);
            foreach (var dependency in Dependencies(resource))
            {
                Visit(dependency, path);
            }

            path.RemoveAt(path.Count - 1);
            state[resource] = true;
            ordered.Add(resource);
        }
    }

    /// <summary>Stop order: the reverse of start order, so nothing loses a dependency while it still runs.</summary>
    public static IReadOnlyList<Resource> StopOrder(IReadOnlyList<Resource> startOrder) => startOrder.Reverse().ToList();

    private static IEnumerable<Resource> Dependencies(Resource resource) => resource.WaitsFor.Concat(resource.References).Distinct();
}
