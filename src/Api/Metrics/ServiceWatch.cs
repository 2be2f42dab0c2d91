using System.Collections.Concurrent;
using System.Text.Json;

namespace Api.Metrics;

/// <summary>A platform service as the Api last saw it (see <see cref="ServiceWatch"/>).</summary>
/// <param name="Status"><c>up</c> (ready), <c>starting</c> (answers, not ready yet, started less than a minute ago),
/// <c>unready</c> (answers, a dependency is missing), <c>down</c> (no answer), <c>unknown</c> (not probed yet or no address).</param>
/// <param name="Since">When the service entered this status, as far as this Api instance saw.</param>
/// <param name="StartedAt">When its current process started (from its <c>/health</c> answer).</param>
/// <param name="Restarts">Processes that replaced an earlier one since this Api started: restarts by the supervisor or by hand.</param>
public sealed record ServiceHealth(string Name, string Status, DateTimeOffset? Since, DateTimeOffset? StartedAt, int Restarts, DateTimeOffset? LastRestartAt, string? Error);

/// <summary>
/// Probes the other services' <c>/health</c> every second, so pipeline health can say that one is down or
/// restarting, not only that lag grows. A restart shows as a new process start time; a process that dies
/// and returns between two probes is still counted.
/// </summary>
public sealed class ServiceWatch(IHttpClientFactory http, IConfiguration configuration, TimeProvider time, ILogger<ServiceWatch> logger) : BackgroundService
{
    public const string ProbeClient = "service-probe";

    /// <summary>The services the pipeline is made of, by the names their addresses are given under (<c>services:NAME:http:0</c>).</summary>
    public static readonly string[] Watched = ["collector", "ingestor", "transformer"];

    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan StartingWindow = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, ServiceHealth> _seen = new(StringComparer.Ordinal);

    public IReadOnlyList<ServiceHealth> Current => Watched
        .Select(name => _seen.TryGetValue(name, out var seen) ? seen : new ServiceHealth(name, "unknown", null, null, 0, null, "Not probed yet."))
        .ToList();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(ProbeInterval, time);
        try
        {
            do
            {
                await Task.WhenAll(Watched.Select(name => ProbeAsync(name, stoppingToken)));
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task ProbeAsync(string name, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var (status, startedAt, error) = await ProbeOnceAsync(name, now, cancellationToken);
        if (cancellationToken.IsCancellationRequested)
        {
            return;
        }

        var previous = _seen.GetValueOrDefault(name);
        var restarted = previous?.StartedAt is { } before && startedAt is { } after && after > before;
        if (restarted)
        {
            logger.LogWarning("{Service} restarted: its process started at {StartedAt}, the one before at {Before}", name, startedAt, previous!.StartedAt);
        }

        _seen[name] = new ServiceHealth(
            name,
            status,
            previous?.Status == status && !restarted ? previous.Since : now,
            startedAt ?? previous?.StartedAt,
            (previous?.Restarts ?? 0) + (restarted ? 1 : 0),
            restarted ? startedAt : previous?.LastRestartAt,
            error);
    }

    private async Task<(string Status, DateTimeOffset? StartedAt, string? Error)> ProbeOnceAsync(string name, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(configuration[$"services:{name}:http:0"], UriKind.Absolute, out var address))
        {
            return ("unknown", null, $"No address is configured (services:{name}:http:0).");
        }

        try
        {
            using var client = http.CreateClient(ProbeClient);
            using var response = await client.GetAsync(new Uri(address, "/health"), cancellationToken);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(cancellationToken));
            DateTimeOffset? startedAt = body.RootElement.TryGetProperty("startedAt", out var started) && started.TryGetDateTimeOffset(out var at) ? at : null;
            if (response.IsSuccessStatusCode)
            {
                return ("up", startedAt, null);
            }

            var status = startedAt is { } since && now - since < StartingWindow ? "starting" : "unready";
            return (status, startedAt, $"/health answered {(int)response.StatusCode}: {UnhealthyChecks(body.RootElement)}");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException && !cancellationToken.IsCancellationRequested)
        {
            return ("down", null, $"No answer from {address}: {ex.Message}");
        }
    }

    /// <summary>The names of the failing checks; their descriptions may hold connection details and stay out.</summary>
    private static string UnhealthyChecks(JsonElement report) =>
        report.TryGetProperty("checks", out var checks) && checks.ValueKind == JsonValueKind.Object
            ? string.Join(", ", checks.EnumerateObject()
                .Where(c => c.Value.TryGetProperty("status", out var s) && s.GetString() != "Healthy")
                .Select(c => c.Name)) is { Length: > 0 } failing ? "failing " + failing : "not ready"
            : "not ready";
}
