using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AppHost.Lifecycle;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.ClickHouse;
using Platform.Tenancy;

namespace AppHost.Demo;

/// <summary>The demo tenant's id and keys, kept in <c>STATE/demo.json</c> because only hashes are stored server-side.</summary>
public sealed record DemoCredentials(string TenantId, string WriteKey, string ReadKey);

/// <summary>
/// A one-shot task: creates the demo tenant and its keys (kept across restarts) and sends a day of
/// demo events through the Collector, so a newcomer has something to query. Event ids derive from
/// the event's time slot, so sending the same day again adds nothing twice. It is done once the
/// events are in ClickHouse, so what waits for it (the Transformer's first build) sees them.
/// </summary>
public sealed class DemoDataResource(string name, IResourceWithConnectionString platformDatabase, IResourceWithEndpoints collector,
    IResourceWithConnectionString clickHouse, string credentialsFile) : AppHostTaskResource(name)
{
    public const string TenantId = "demo";

    private static readonly string[] EventNames = ["page_view", "page_view", "feature_used", "signup", "purchase"];

    public DemoCredentials? Credentials { get; private set; }

    public int EventsSent { get; private set; }

    public override string? Summary => Credentials is null ? null : $"tenant '{TenantId}', {EventsSent} demo events sent";

    protected override async Task RunAsync(ILogger logger, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create((await platformDatabase.GetConnectionStringAsync(cancellationToken))!);
        var tenants = new TenantDirectory(dataSource, TimeProvider.System);
        Credentials = await EnsureCredentialsAsync(tenants, credentialsFile, cancellationToken);
        EventsSent = await SendDemoEventsAsync(logger, cancellationToken);
        await WaitUntilStoredAsync(logger, cancellationToken);
    }

    private async Task WaitUntilStoredAsync(ILogger logger, CancellationToken cancellationToken)
    {
        using var http = new HttpClient();
        var client = new ClickHouseClient(http, ClickHouseConnectionSettings.Parse((await clickHouse.GetConnectionStringAsync(cancellationToken))!));
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        var sql = $"SELECT uniqExact(event_id) FROM raw_events WHERE tenant_id = {ClickHouseSql.Literal(TenantId)} AND event_id LIKE 'demo-%' AND event_time >= now() - INTERVAL 2 DAY";
        while (await client.QueryLongAsync(sql, cancellationToken: cancellationToken) < EventsSent)
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                // Not fatal: the events are acknowledged by Kafka and will arrive; only the first build misses them.
                logger.LogWarning("The demo events are not all in ClickHouse after 60 s; going on.");
                return;
            }

            await Task.Delay(250, cancellationToken);
        }
    }

    private static async Task<DemoCredentials> EnsureCredentialsAsync(TenantDirectory tenants, string file, CancellationToken cancellationToken)
    {
        await tenants.CreateTenantAsync(TenantId, "Demo product", cancellationToken: cancellationToken);
        if (File.Exists(file)
            && JsonSerializer.Deserialize(await File.ReadAllTextAsync(file, cancellationToken), AppHostJsonContext.Default.DemoCredentials) is { } saved
            && await tenants.ResolveAsync(saved.WriteKey, ApiKeyKind.Write, cancellationToken) == TenantId
            && await tenants.ResolveAsync(saved.ReadKey, ApiKeyKind.Read, cancellationToken) == TenantId)
        {
            return saved;
        }

        var credentials = new DemoCredentials(
            TenantId,
            await tenants.IssueKeyAsync(TenantId, ApiKeyKind.Write, cancellationToken),
            await tenants.IssueKeyAsync(TenantId, ApiKeyKind.Read, cancellationToken));
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(credentials, AppHostJsonContext.Default.DemoCredentials), cancellationToken);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return credentials;
    }

    private async Task<int> SendDemoEventsAsync(ILogger logger, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = new Uri(collector.GetEndpoint("http").Url) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Credentials!.WriteKey + ":")));
        var events = GenerateEvents(DateTimeOffset.UtcNow).ToList();
        foreach (var chunk in events.Chunk(200))
        {
            using var response = await http.PostAsJsonAsync("/v1/events", new JsonObject { ["batch"] = new JsonArray(chunk.Select(e => (JsonNode)e).ToArray()) }, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"The collector refused the demo events: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
            }
        }

        logger.LogInformation("Sent {Count} demo events for tenant '{Tenant}'.", events.Count, TenantId);
        return events.Count;
    }

    /// <summary>Five events every 15 minutes over the last 24 hours, from 25 users, with ids fixed by their time slot.</summary>
    public static IEnumerable<JsonObject> GenerateEvents(DateTimeOffset now)
    {
        var lastSlot = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute / 15 * 15, 0, TimeSpan.Zero);
        for (var slot = 0; slot < 96; slot++)
        {
            var at = lastSlot.AddMinutes(-15 * slot);
            var slotNumber = at.ToUnixTimeSeconds() / 900;
            for (var k = 0; k < EventNames.Length; k++)
            {
                var user = $"user-{(slotNumber * 7 + k * 3) % 25:00}";
                yield return new JsonObject
                {
                    ["event"] = EventNames[k],
                    ["event_id"] = $"demo-{at:yyyyMMddHHmm}-{k}",
                    ["user_id"] = user,
                    ["session_id"] = $"{user}-{at:yyyyMMddHH}",
                    // Before the slot start, never after: no demo event may lie in the future.
                    ["timestamp"] = at.AddSeconds(-k * 37).ToString("yyyy-MM-ddTHH:mm:ssZ"),
                    ["properties"] = new JsonObject { ["path"] = k == 3 ? "/signup" : "/home", ["plan"] = (slotNumber + k) % 3 == 0 ? "pro" : "free" },
                    ["context"] = new JsonObject { ["country"] = (slotNumber % 4) switch { 0 => "DE", 1 => "US", 2 => "FR", _ => "JP" }, ["device"] = k % 2 == 0 ? "mobile" : "desktop" },
                };
            }
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(DemoCredentials))]
internal sealed partial class AppHostJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
