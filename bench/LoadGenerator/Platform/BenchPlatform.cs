using System.Text.Json.Nodes;
using AppHost;
using Platform.Testing;

namespace LoadGenerator.Platform;

/// <summary>
/// The platform under test: where the Collector, the Api, ClickHouse and the tenant store answer,
/// and which state folder's PID records name its processes (for the CPU breakdown).
/// Either started by this run through the AppHost's in-process API, or read from a running one's endpoints.json.
/// </summary>
public sealed class BenchPlatform : IAsyncDisposable
{
    private static readonly string TemporaryRoot = Path.Combine(Path.GetTempPath(), "platform-bench");

    private readonly PlatformApp? _app;
    private bool _deleteState;

    private BenchPlatform(
        string description, Uri collector, Uri api, string clickHouse, string tenantStore, string stateDirectory,
        PlatformApp? app, bool deleteState, IReadOnlyDictionary<string, string> overrides)
    {
        Description = description;
        Collector = collector;
        Api = api;
        ClickHouse = clickHouse;
        TenantStore = tenantStore;
        StateDirectory = stateDirectory;
        Overrides = overrides;
        _app = app;
        _deleteState = deleteState;
    }

    public string Description { get; }

    public Uri Collector { get; }

    public Uri Api { get; }

    /// <summary>The ClickHouse connection string (Aspire shape).</summary>
    public string ClickHouse { get; }

    /// <summary>The Npgsql connection string of the <c>platform</c> database (tenants and keys).</summary>
    public string TenantStore { get; }

    public string StateDirectory { get; }

    /// <summary>The platform this run started (null when attached to a running one).</summary>
    public PlatformApp? App => _app;

    /// <summary>True when this run started the platform (its Kafka broker then runs in this process).</summary>
    public bool IsOwn => _app is not null;

    /// <summary>Configuration this run gave the platform it started, to print with the figures.</summary>
    public IReadOnlyDictionary<string, string> Overrides { get; }

    /// <summary>Reads a running platform's endpoints.json (written by scripts/up).</summary>
    public static async Task<BenchPlatform> AttachAsync(string endpointsFile, CancellationToken cancellationToken)
    {
        if (!File.Exists(endpointsFile))
        {
            throw new FileNotFoundException($"{endpointsFile} does not exist; start the platform with scripts/up first.", endpointsFile);
        }

        var endpoints = JsonNode.Parse(await File.ReadAllTextAsync(endpointsFile, cancellationToken))!.AsObject();
        string Get(string key) => endpoints[key]?.GetValue<string>() ?? throw new InvalidDataException($"{endpointsFile} names no '{key}'.");
        var state = Path.GetDirectoryName(endpointsFile)!;
        return new BenchPlatform(
            $"a running platform ({ServiceBuild(state)}, {endpointsFile})", new Uri(Get("collector")), new Uri(Get("api")), Get("clickhouse"), Get("platform"),
            state, app: null, deleteState: false, new Dictionary<string, string>());
    }

    /// <summary>Which build the running Collector is (scripts/up runs Debug), read from its PID record's command line.</summary>
    private static string ServiceBuild(string state)
    {
        try
        {
            var record = JsonNode.Parse(File.ReadAllText(Path.Combine(state, "pids", "collector.json")));
            var command = record?["command_line"]?.GetValue<string>() ?? "";
            return command.Contains("/bin/Release/", StringComparison.Ordinal) ? "Release build"
                : command.Contains("/bin/Debug/", StringComparison.Ordinal) ? "Debug build"
                : "build unknown";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return "build unknown";
        }
    }

    /// <summary>
    /// Starts the AppHost's model with free ports and no demo data. Services inherit this process's
    /// environment, which is how <paramref name="settings"/> reach them.
    /// </summary>
    public static async Task<BenchPlatform> StartAsync(
        string? stateDirectory, bool keepState, IReadOnlyDictionary<string, string> settings, TextWriter log, CancellationToken cancellationToken)
    {
        var temporary = stateDirectory is null;
        if (temporary)
        {
            stateDirectory = Path.Combine(TemporaryRoot, $"run-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}");
        }

        // Each setting reaches every service (Resources:NAME:Environment:KEY, as the AppHost reads it).
        var configuration = settings
            .SelectMany(setting => new[] { "collector", "ingestor", "transformer", "api" }.Select(service => ($"Resources:{service}:Environment:{setting.Key}", setting.Value)))
            .ToDictionary(c => c.Item1, c => (string?)c.Value);
        log.WriteLine($"Starting a platform in {stateDirectory} ...");
        var started = System.Diagnostics.Stopwatch.StartNew();
        PlatformApp app;
        try
        {
            app = await PlatformApp.StartAsync(stateDirectory!, fresh: temporary, demo: false, configuration, cancellationToken);
        }
        catch
        {
            log.WriteLine($"The platform did not start; its logs are in {Path.Combine(stateDirectory!, "logs")}.");
            throw;
        }

        log.WriteLine($"Platform up in {started.Elapsed.TotalSeconds:0.0} s.");
        return new BenchPlatform(
            $"a platform started by this run ({ServiceBuild(stateDirectory!)}, state {stateDirectory})",
            new Uri(app["collector"].Url!), new Uri(app["api"].Url!),
            app["clickhouse"].ConnectionString!, app["platform"].ConnectionString!, stateDirectory!,
            app, deleteState: temporary && !keepState, settings);
    }

    /// <summary>Keeps a temporary state folder (data and logs) after the run, for a failed run's evidence.</summary>
    public void KeepState() => _deleteState = false;

    public async ValueTask DisposeAsync()
    {
        if (_app is null)
        {
            return;
        }

        await _app.DisposeAsync();
        if (_deleteState)
        {
            try
            {
                Directory.Delete(StateDirectory, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A leftover temporary folder is cleaned by the next run.
            }
        }
    }
}
