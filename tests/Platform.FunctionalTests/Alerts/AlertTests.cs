using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Api.Alerts;
using Platform.FunctionalTests.Metrics;
using Platform.Testing;
using Xunit.Abstractions;

namespace Platform.FunctionalTests.Alerts;

/// <summary>
/// Alert rules end to end on the real platform: made through the admin path, evaluated by the Api over the tenant's real
/// events and the real broker, delivered as signed webhooks to a receiver on loopback.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class AlertTests(MetricsPlatform platform, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(60);

    private readonly List<long> _created = [];

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Every rule a test made is deleted after it, so the shared platform evaluates none of them later.</summary>
    public async Task DisposeAsync()
    {
        using var admin = Admin();
        foreach (var id in _created)
        {
            using var _ = await admin.DeleteAsync($"/admin/v1/alerts/{id}");
        }
    }

    [Fact]
    public async Task ATenantsDauDropFiresOnceAndResolvesWhenTheDayRecovers()
    {
        var tenant = await platform.CreateTenantAsync();
        var other = await platform.CreateTenantAsync();
        var yesterday = DateTimeOffset.UtcNow.Date.AddDays(-1).AddHours(12);
        var dayBefore = yesterday.AddDays(-1);
        await platform.SendAsync(tenant, [
            .. Enumerable.Range(0, 10).Select(i => TestEvents.Track("page_view", $"u{i}", new DateTimeOffset(dayBefore, TimeSpan.Zero))),
            .. Enumerable.Range(0, 4).Select(i => TestEvents.Track("page_view", $"u{i}", new DateTimeOffset(yesterday, TimeSpan.Zero))),
        ]);
        await platform.WaitForStoredAsync(tenant, 14);

        using var receiver = new WebhookReceiver();
        var rule = await CreateRuleAsync(new JsonObject
        {
            ["name"] = "DAU fell",
            ["tenant"] = tenant.Id,
            ["metric"] = "active_users",
            ["window"] = "day",
            ["condition"] = "drop_pct",
            ["compare_to"] = "previous_day",
            ["threshold"] = 20,
            ["every"] = "1s",
            ["webhook"] = new JsonObject { ["url"] = receiver.Url },
        });
        var secret = (string)rule["webhook"]!["secret"]!;

        var firing = (await receiver.WaitForAsync(1, Soon)).Single();
        Assert.True(firing.SignedWith(secret), $"the signature {firing.Signature} is not the HMAC-SHA256 of the body with the rule's secret");
        Assert.False(firing.SignedWith(secret + "x"));
        Assert.Equal("firing", firing.Event);
        var body = firing.Json;
        Assert.Equal("firing", (string)body["status"]!);
        Assert.Equal(tenant.Id, (string)body["tenant"]!);
        Assert.Equal(4, (double)body["value"]!);
        Assert.Equal(10, (double)body["baseline"]!);
        Assert.Equal(-60, (double)body["change_pct"]!);
        Assert.Equal(20, (double)body["threshold"]!);
        Assert.Equal("day", (string)body["window"]!);
        Assert.Equal((long)rule["id"]!, (long)body["rule"]!["id"]!);
        Assert.Contains("/v1/active-users?from=", (string)body["query"]!);

        // Still breached for several evaluations: nothing more is sent.
        await Task.Delay(TimeSpan.FromSeconds(4));
        Assert.Single(receiver.Received);
        using (var api = platform.Api(tenant.ReadKey))
        {
            var health = await MetricsPlatform.GetJsonAsync(api, "/v1/pipeline/health");
            var shown = Assert.Single(health["alerts"]!["tenantRules"]!.AsArray());
            Assert.Equal("firing", (string)shown!["state"]!["status"]!);
            Assert.Equal("delivered", (string)shown["lastDelivery"]!["status"]!);
        }

        using (var otherApi = platform.Api(other.ReadKey))
        {
            var health = await MetricsPlatform.GetJsonAsync(otherApi, "/v1/pipeline/health");
            Assert.Empty(health["alerts"]!["tenantRules"]!.AsArray());
        }

        // Yesterday's late events arrive: 12 users against 10, no drop.
        await platform.SendAsync(tenant, Enumerable.Range(4, 8).Select(i => TestEvents.Track("page_view", $"u{i}", new DateTimeOffset(yesterday, TimeSpan.Zero))));
        var resolved = (await receiver.WaitForAsync(1, Soon, r => r.Event == "resolved")).Single();
        Assert.True(resolved.SignedWith(secret));
        Assert.Equal("resolved", (string)resolved.Json["status"]!);
        Assert.Equal(12, (double)resolved.Json["value"]!);
        Assert.Equal((string)body["observed_at"]!, (string)resolved.Json["firing_since"]!);

        var deliveries = await AdminGetAsync($"/admin/v1/alerts/{rule["id"]}/deliveries");
        Assert.Equal(["resolved", "firing"], deliveries.AsArray().Select(d => (string)d!["event"]!));
        Assert.All(deliveries.AsArray(), d => Assert.Equal("delivered", (string)d!["status"]!));
        Assert.All(deliveries.AsArray(), d => Assert.Equal(1, (int)d!["attempts"]!));
        Assert.Equal("ok", (string)(await AdminGetAsync($"/admin/v1/alerts/{rule["id"]}"))["state"]!["status"]!);
        Assert.Equal(2, receiver.Received.Count);
    }

    [Fact]
    public async Task IngestLagFiresWhileTheIngestorIsStoppedAndResolvesAfterItIsBack()
    {
        using var receiver = new WebhookReceiver();
        var rule = await CreateRuleAsync(new JsonObject
        {
            ["name"] = "Ingest lag",
            ["metric"] = "ingest_lag_seconds",
            ["condition"] = "above",
            ["threshold"] = 3,
            ["every"] = "1s",
            ["webhook"] = new JsonObject { ["url"] = receiver.Url },
        });
        await Eventually.MatchesAsync(() => AdminGetAsync($"/admin/v1/alerts/{rule["id"]}"), r => r["state"]!["evaluated_at"] is not null && r["state"]!["error"] is null);
        Assert.Empty(receiver.Received);

        var tenant = await platform.CreateTenantAsync();
        await platform.App.StopResourceAsync("ingestor");
        var stopped = Stopwatch.StartNew();
        try
        {
            await platform.SendAsync(tenant, Enumerable.Range(0, 20).Select(i => TestEvents.Track("page_view", $"u{i}", DateTimeOffset.UtcNow)));
            var firing = (await receiver.WaitForAsync(1, Soon)).Single();
            Assert.Equal("firing", (string)firing.Json["status"]!);
            Assert.True((double)firing.Json["value"]! > 3, firing.Body);
            Assert.Null(firing.Json["tenant"]);
            output.WriteLine($"fired {stopped.Elapsed.TotalSeconds:0.0} s after the Ingestor stopped (threshold 3 s)");
        }
        finally
        {
            await platform.App.StartResourceAsync("ingestor");
        }

        var back = Stopwatch.StartNew();
        var resolved = (await receiver.WaitForAsync(1, Soon, r => r.Event == "resolved")).Single();
        Assert.Equal(0, (double)resolved.Json["value"]!);
        output.WriteLine($"resolved {back.Elapsed.TotalSeconds:0.0} s after the Ingestor was healthy again");
        await platform.WaitForStoredAsync(tenant, 20);
        Assert.Equal(2, receiver.Received.Count);
    }

    [Fact]
    public async Task AReceiverThatAnswers500IsRetriedWithTheSameSignedBodyUntilItTakesIt()
    {
        var tenant = await platform.CreateTenantAsync();
        await platform.SendAsync(tenant, [TestEvents.Track("signup", "u1", DateTimeOffset.UtcNow.AddMinutes(-2))]);
        await platform.WaitForStoredAsync(tenant, 1);
        using var receiver = new WebhookReceiver([HttpStatusCode.InternalServerError, HttpStatusCode.InternalServerError]);
        var rule = await CreateRuleAsync(EventsAbove(tenant.Id, receiver.Url));
        var secret = (string)rule["webhook"]!["secret"]!;

        var attempts = await receiver.WaitForAsync(3, Soon);
        Assert.Single(attempts.Select(a => a.Body).Distinct());
        Assert.Single(attempts.Select(a => a.Delivery).Distinct());
        Assert.All(attempts, a => Assert.True(a.SignedWith(secret)));
        // Waits of at least the base delay (0.5 s), doubling.
        var gaps = attempts.Zip(attempts.Skip(1), (a, b) => (b.At - a.At).TotalSeconds).ToList();
        output.WriteLine($"gaps between attempts: {string.Join(", ", gaps.Select(g => $"{g:0.00} s"))}");
        Assert.True(gaps[0] >= 0.45 && gaps[1] >= 0.95, string.Join(", ", gaps));

        var delivery = (await Eventually.MatchesAsync(() => AdminGetAsync($"/admin/v1/alerts/{rule["id"]}/deliveries"),
            d => d.AsArray().Count == 1 && (string)d[0]!["status"]! == "delivered")).AsArray().Single()!;
        Assert.Equal(3, (int)delivery["attempts"]!);
        Assert.Equal(200, (int)delivery["last_status_code"]!);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(3, receiver.Received.Count);
    }

    [Fact]
    public async Task ASlowReceiverDelaysOnlyItsOwnRule()
    {
        var slowTenant = await platform.CreateTenantAsync();
        var tenant = await platform.CreateTenantAsync();
        await platform.SendAsync(slowTenant, [TestEvents.Track("signup", "u1", DateTimeOffset.UtcNow.AddMinutes(-2))]);
        await platform.SendAsync(tenant, [TestEvents.Track("signup", "u1", DateTimeOffset.UtcNow.AddMinutes(-2))]);
        await platform.WaitForStoredAsync(slowTenant, 1);
        await platform.WaitForStoredAsync(tenant, 1);
        using var slow = new WebhookReceiver(delay: TimeSpan.FromSeconds(30));
        using var slack = new WebhookReceiver();
        await CreateRuleAsync(EventsAbove(slowTenant.Id, slow.Url));
        await slow.WaitForAsync(1, Soon); // the slow receiver holds its request from now on

        var started = Stopwatch.StartNew();
        var rule = EventsAbove(tenant.Id, slack.Url);
        rule["webhook"]!["format"] = "slack";
        var created = await CreateRuleAsync(rule);
        var message = (await slack.WaitForAsync(1, TimeSpan.FromSeconds(10))).Single();
        output.WriteLine($"the other tenant's webhook arrived {started.Elapsed.TotalSeconds:0.0} s after its rule was made");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(8), $"took {started.Elapsed}");
        Assert.True(message.SignedWith((string)created["webhook"]!["secret"]!));
        var text = (string)message.Json["text"]!;
        Assert.StartsWith("[FIRING] ", text);
        Assert.Contains($"tenant {tenant.Id}", text);
        Assert.Equal("section", (string)message.Json["blocks"]![0]!["type"]!);
    }

    [Theory]
    [InlineData("""{"name":"x","tenant":"TENANT","metric":"revenue","condition":"above","threshold":1,"webhook":{"url":"http://example.com/h"}}""", 400, "Unknown metric")]
    [InlineData("""{"name":"x","tenant":"TENANT","metric":"active_users","window":"day","condition":"drop_pct","compare_to":"previous_day","threshold":150,"webhook":{"url":"http://example.com/h"}}""", 400, "Threshold out of range")]
    [InlineData("""{"name":"x","metric":"disk_used_pct","condition":"above","threshold":101,"webhook":{"url":"http://example.com/h"}}""", 400, "Threshold out of range")]
    [InlineData("""{"name":"x","metric":"ingest_lag_seconds","condition":"above","threshold":-1,"webhook":{"url":"http://example.com/h"}}""", 400, "Threshold out of range")]
    [InlineData("""{"name":"x","metric":"ingest_lag_seconds","condition":"above","threshold":60,"webhook":{"url":"ftp://example.com/h"}}""", 400, "Invalid webhook URL")]
    [InlineData("""{"name":"x","metric":"ingest_lag_seconds","condition":"above","threshold":60,"webhook":{"url":"file:///etc/passwd"}}""", 400, "Invalid webhook URL")]
    [InlineData("""{"name":"x","metric":"ingest_lag_seconds","condition":"above","threshold":60,"webhook":{"url":"COLLECTOR/v1/events"}}""", 400, "Invalid webhook URL")]
    [InlineData("""{"name":"x","metric":"ingest_lag_seconds","condition":"above","threshold":60,"webhook":{"url":"http://localhost:APIPORT/admin/v1/alerts"}}""", 400, "Invalid webhook URL")]
    [InlineData("""{"name":"x","metric":"active_users","window":"day","condition":"above","threshold":1,"webhook":{"url":"http://example.com/h"}}""", 400, "Tenant required")]
    [InlineData("""{"name":"x","tenant":"TENANT","metric":"ingest_lag_seconds","condition":"above","threshold":1,"webhook":{"url":"http://example.com/h"}}""", 400, "Platform metric")]
    [InlineData("""{"name":"x","metric":"consumer_lag","condition":"drop_pct","compare_to":"previous_day","threshold":10,"webhook":{"url":"http://example.com/h"}}""", 400, "Invalid condition")]
    [InlineData("""{"name":"x","tenant":"TENANT","metric":"events","window":"7d","condition":"above","threshold":1,"webhook":{"url":"http://example.com/h"}}""", 400, "Invalid window")]
    [InlineData("""{"name":"x","tenant":"TENANT","metric":"events","window":"15m","condition":"above","threshold":1,"every":"0s","webhook":{"url":"http://example.com/h"}}""", 400, "Invalid schedule")]
    [InlineData("""{"name":"x","tenant":"no-such-tenant-anywhere","metric":"events","window":"15m","condition":"above","threshold":1,"webhook":{"url":"http://example.com/h"}}""", 404, "No such tenant")]
    [InlineData("""{"name":"x","metric":"consumer_lag","condition":"above","threshold":"lots","webhook":{"url":"http://example.com/h"}}""", 400, "Malformed JSON")]
    [InlineData("""{"name":"x","metric":"consumer_lag","condition":"above","threshold":1,"webhook":{"url":"http://example.com/h"},"sql":"DROP TABLE"}""", 400, "Malformed JSON")]
    [InlineData("""{"name":"x","metric":"consumer_lag",""", 400, "Malformed JSON")]
    public async Task ABadRuleIsRefusedWithAPreciseProblem(string json, int status, string title)
    {
        var tenant = await platform.CreateTenantAsync();
        var collector = platform.CreateHttpClient("collector").BaseAddress!.GetLeftPart(UriPartial.Authority);
        var apiPort = platform.CreateHttpClient("api").BaseAddress!.Port;
        using var admin = Admin();
        using var response = await admin.PostAsync("/admin/v1/alerts", Http.Json(
            json.Replace("TENANT", tenant.Id).Replace("COLLECTOR", collector).Replace("APIPORT", apiPort.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(title, (string)JsonNode.Parse(body)!["title"]!);
    }

    [Fact]
    public async Task TheAlertAdminPathNeedsTheAdminToken()
    {
        using var anonymous = platform.CreateHttpClient("api");
        using var response = await anonymous.GetAsync("/admin/v1/alerts");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var tenant = await platform.CreateTenantAsync();
        using var readKey = platform.Api(tenant.ReadKey);
        using var withReadKey = await readKey.GetAsync("/admin/v1/alerts");
        Assert.Equal(HttpStatusCode.Unauthorized, withReadKey.StatusCode);
    }

    [Fact]
    public async Task RulesAreListedPerTenantWithoutTheirSecret()
    {
        var tenant = await platform.CreateTenantAsync();
        var created = await CreateRuleAsync(EventsAbove(tenant.Id, "https://hooks.example.com/x", threshold: 1_000_000));
        var listed = await AdminGetAsync($"/admin/v1/alerts?tenant={tenant.Id}");
        var rule = Assert.Single(listed.AsArray())!;
        Assert.Equal((long)created["id"]!, (long)rule["id"]!);
        Assert.Null(rule["webhook"]!["secret"]);
        Assert.Equal("15m", (string)rule["window"]!);
        var metrics = await AdminGetAsync("/admin/v1/alerts/metrics");
        Assert.Contains(metrics.AsArray(), m => (string)m!["name"]! == "cdc_apply_lag_seconds" && (string)m["scope"]! == "platform");
        await AdminDeleteAsync($"/admin/v1/alerts/{created["id"]}");
        Assert.Empty((await AdminGetAsync($"/admin/v1/alerts?tenant={tenant.Id}")).AsArray());
    }

    [Fact]
    public async Task EveryMetricIsReadOnTheRealPlatform()
    {
        var tenant = await platform.CreateTenantAsync();
        var rules = new List<JsonObject>();
        foreach (var metric in AlertMetrics.All)
        {
            var rule = new JsonObject
            {
                ["name"] = $"read {metric.Name}",
                ["metric"] = metric.Name,
                ["condition"] = "above",
                ["threshold"] = metric.MaxThreshold,
                ["every"] = "1s",
                ["webhook"] = new JsonObject { ["url"] = "https://hooks.example.com/never" },
            };
            if (metric.Scope == AlertScope.Tenant)
            {
                rule["tenant"] = tenant.Id;
                rule["window"] = metric.Windows.Count > 0 ? metric.Windows[0] : "15m";
                rule["condition"] = "rise_pct";
                rule["compare_to"] = "previous_week";
                rule["threshold"] = 50;
            }

            rules.Add(await CreateRuleAsync(rule));
        }

        foreach (var rule in rules)
        {
            var read = await Eventually.MatchesAsync(() => AdminGetAsync($"/admin/v1/alerts/{rule["id"]}"), r => r["state"]!["evaluated_at"] is not null);
            output.WriteLine($"{rule["metric"]}: {read["state"]!["value"]?.ToJsonString() ?? "-"} {read["state"]!["error"]}");
            Assert.True(read["state"]!["error"] is null, $"{rule["metric"]}: {read["state"]!["error"]}");
            Assert.Equal("ok", (string)read["state"]!["status"]!);
            var value = (double)read["state"]!["value"]!;
            Assert.True(value >= 0 && ((string)rule["metric"]! is not ("disk_used_pct" or "insert_failure_pct") || value <= 100), $"{rule["metric"]} = {value}");
        }
    }

    [Fact]
    public async Task OneApiInstanceHoldsTheAlertLeaseUntilItExpires()
    {
        await using var dataSource = Npgsql.NpgsqlDataSource.Create(platform.App["platform"].ConnectionString!);
        var store = new AlertStore(dataSource, new Platform.Tenancy.TenantDirectory(dataSource, TimeProvider.System));
        var lease = $"test-{Guid.NewGuid():N}";
        Assert.True(await store.TryHoldLeaseAsync(lease, "a", TimeSpan.FromSeconds(2), CancellationToken.None));
        Assert.True(await store.TryHoldLeaseAsync(lease, "a", TimeSpan.FromSeconds(2), CancellationToken.None));
        Assert.False(await store.TryHoldLeaseAsync(lease, "b", TimeSpan.FromSeconds(2), CancellationToken.None));
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.True(await store.TryHoldLeaseAsync(lease, "b", TimeSpan.FromSeconds(30), CancellationToken.None));
        Assert.False(await store.TryHoldLeaseAsync(lease, "a", TimeSpan.FromSeconds(2), CancellationToken.None));
        await store.ReleaseLeaseAsync(lease, "b", CancellationToken.None);
        Assert.True(await store.TryHoldLeaseAsync(lease, "a", TimeSpan.FromSeconds(2), CancellationToken.None));
    }

    private static JsonObject EventsAbove(string tenant, string url, double threshold = 0) => new()
    {
        ["name"] = "Any signups",
        ["tenant"] = tenant,
        ["metric"] = "events",
        ["event"] = "signup",
        ["window"] = "15m",
        ["condition"] = "above",
        ["threshold"] = threshold,
        ["every"] = "1s",
        ["webhook"] = new JsonObject { ["url"] = url },
    };

    private HttpClient Admin()
    {
        var client = platform.CreateHttpClient("api");
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminToken);
        return client;
    }

    private async Task<JsonObject> CreateRuleAsync(JsonObject rule)
    {
        using var admin = Admin();
        using var response = await admin.PostAsync("/admin/v1/alerts", Http.Json(rule.ToJsonString()));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {body}");
        var created = JsonNode.Parse(body)!.AsObject();
        _created.Add((long)created["id"]!);
        return created;
    }

    private async Task<JsonNode> AdminGetAsync(string path)
    {
        using var admin = Admin();
        using var response = await admin.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!;
    }

    private async Task AdminDeleteAsync(string path)
    {
        using var admin = Admin();
        using var response = await admin.DeleteAsync(path);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }
}
