using System.Globalization;

namespace AppHost.Hosting;

/// <summary>
/// One of the platform's services, started as a child process from its build output
/// (<c>src/NAME/bin/CONFIGURATION/net10.0/NAME.dll</c>), gated on its <c>/health</c> endpoint.
/// </summary>
public sealed class ProjectResource(string name, string projectName, int preferredPort) : Resource(name), IEndpointsContributor
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly List<ProjectSecret> _secrets = [];
    private readonly Dictionary<string, string> _configured = [];
    private readonly Dictionary<string, Func<string?>> _computed = [];
    private ChildProcess? _process;
    private string? _stateDirectory;

    public string ProjectName { get; } = projectName;

    /// <summary>The generated secrets the service is handed, which a deployment must supply itself.</summary>
    public IReadOnlyList<ProjectSecret> Secrets => _secrets;

    public int Port { get; private set; }

    public string Url => $"http://127.0.0.1:{Port}";

    public override string? Display => Url;

    public override string? ConnectionString => null;

    public override void AllocatePorts(ResourceContext context)
    {
        Port = context.Ports.Allocate(preferredPort);
        _stateDirectory = context.Options.StateDirectory;
        // Extra settings for one service from the AppHost's configuration, e.g.
        // Resources:collector:Environment:Collector__RateLimits__RequestsPerSecondPerClient=50.
        foreach (var setting in context.Configuration.GetSection($"Resources:{Name}:Environment").GetChildren())
        {
            if (setting.Value is not null)
            {
                _configured[setting.Key] = setting.Value;
            }
        }
    }

    /// <summary>
    /// Hands the service a generated secret (kept in <c>STATE/secrets/NAME</c>, the same across restarts)
    /// as <paramref name="environmentKey"/>, and lists it in endpoints.json for the developer.
    /// </summary>
    public ProjectResource WithSecret(string environmentKey, string secretName)
    {
        _secrets.Add(new ProjectSecret(environmentKey, secretName));
        return WithEnvironment(environmentKey, () => Secret(secretName));
    }

    /// <summary>An environment entry decided once the model's resources are allocated (null leaves it out).</summary>
    public ProjectResource WithEnvironment(string environmentKey, Func<string?> value)
    {
        _computed[environmentKey] = value;
        return this;
    }

    public string Secret(string secretName) => Hosting.Secrets.GetOrCreate(_stateDirectory ?? throw new InvalidOperationException("Ports are not allocated yet."), secretName);

    /// <summary>A referencing service learns this one's address as <c>services__NAME__http__0</c>.</summary>
    public override IEnumerable<KeyValuePair<string, string>> ReferenceEnvironment()
    {
        yield return new($"services__{Name}__http__0", Url);
    }

    public string AssemblyPath(AppHostOptions options) =>
        Path.Combine(options.SourceRoot, ProjectName, "bin", options.BuildConfiguration, "net10.0", ProjectName + ".dll");

    /// <summary>The environment the service starts with: its URL, its name for telemetry, and what it references.</summary>
    public IReadOnlyDictionary<string, string> BuildEnvironment(AppHostOptions options)
    {
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = Url,
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["OTEL_SERVICE_NAME"] = Name,
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
            ["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss ",
            ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning",
            ["Logging__LogLevel__System.Net.Http.HttpClient"] = "Warning",
            ["DOTNET_NOLOGO"] = "1",
        };

        // Telemetry export is the caller's choice: pass the AppHost's OTLP settings through when set.
        foreach (var key in new[] { "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS" })
        {
            if (Environment.GetEnvironmentVariable(key) is { Length: > 0 } value)
            {
                environment[key] = value;
            }
        }

        foreach (var reference in References)
        {
            foreach (var (key, value) in reference.ReferenceEnvironment())
            {
                environment[key] = value;
            }
        }

        foreach (var (key, value) in _computed)
        {
            if (value() is { } computed)
            {
                environment[key] = computed;
            }
        }

        foreach (var (key, value) in _configured)
        {
            environment[key] = value;
        }

        return environment;
    }

    public override async Task StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        var assembly = AssemblyPath(context.Options);
        if (!File.Exists(assembly))
        {
            throw new ResourceFailedException(Name, $"{assembly} does not exist; build the solution first (dotnet build Platform.sln -c {context.Options.BuildConfiguration}).");
        }

        var dotnet = Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
        var spec = new ProcessSpec(dotnet, [assembly], Path.GetDirectoryName(assembly)!) { Environment = BuildEnvironment(context.Options) };
        _process = ChildProcess.Start(Name, spec, context.Logs, context.Processes);
        await Probe.UntilHealthyAsync(Name, _process, async ct =>
        {
            using var response = await Http.GetAsync(Url + "/health", ct);
            return response.IsSuccessStatusCode;
        }, cancellationToken);
    }

    public override async Task StopAsync(ResourceContext context)
    {
        if (_process is not null)
        {
            await _process.StopAsync(context.Options.StopGracePeriod);
        }
    }

    public void WriteEndpoints(System.Text.Json.Nodes.JsonObject endpoints)
    {
        endpoints[Name] = Url;
        foreach (var secret in _secrets)
        {
            endpoints[secret.Name.Replace('-', '_')] = Secret(secret.Name);
        }
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Name} ({ProjectName}) on {Port}");
}

/// <summary>A generated secret a service reads from <paramref name="EnvironmentKey"/>, named <paramref name="Name"/> (e.g. <c>admin-token</c>).</summary>
public sealed record ProjectSecret(string EnvironmentKey, string Name);
