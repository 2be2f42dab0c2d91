using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>What intake does to an event on the server: its time, its id, its personal data, its rate.</summary>
[Collection(PlatformCollection.Name)]
public class IntakeRulesTests(PlatformFixture platform)
{
    [Fact]
    public async Task SentAtCorrectsTheDevicesClockSkew()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        var deviceNow = DateTimeOffset.UtcNow.AddDays(3); // a device clock three days ahead
        var body = $$"""{ "event": "e", "user_id": "u1", "event_id": "skewed", "timestamp": "{{deviceNow.AddMinutes(-2):O}}", "sent_at": "{{deviceNow:O}}" }""";

        using var response = await collector.PostAsync("/v1/events", Http.Json(body));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var row = (await platform.Probe.RowsUntilAsync(tenant.Id, 1)).Single();
        var corrected = DateTimeOffset.Parse((string)row["event_time"]! + "Z");
        Assert.InRange(corrected, DateTimeOffset.UtcNow.AddMinutes(-3), DateTimeOffset.UtcNow.AddMinutes(-1));
        Assert.Equal(deviceNow.AddMinutes(-2).ToUnixTimeSeconds(), DateTimeOffset.Parse((string)row["original_time"]! + "Z").ToUnixTimeSeconds());
    }

    [Fact]
    public async Task AnEventWithoutAnIdButWithATimeCountsOnceWhenResent()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);
        var at = DateTimeOffset.UtcNow.AddMinutes(-1).ToString("O");
        var withTime = $$"""{ "event": "no_id", "user_id": "u1", "timestamp": "{{at}}", "properties": { "n": 1 } }""";
        var sameButOtherProperty = $$"""{ "event": "no_id", "user_id": "u1", "timestamp": "{{at}}", "properties": { "n": 2 } }""";

        foreach (var body in new[] { withTime, withTime, sameButOtherProperty })
        {
            using var response = await collector.PostAsync("/v1/events", Http.Json(body));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        await platform.Probe.RowsUntilAsync(tenant.Id, 3);
        Assert.Equal(2, (long)(await api.CountAsync())["total"]!);
        Assert.All(await platform.Probe.RowsAsync(tenant.Id), r => Assert.StartsWith("c-", (string)r["event_id"]!));
    }

    [Fact]
    public async Task PersonalDataIsHashedOrDroppedByTheTenantsRules()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        var pii = """{ "event": "pii", "user_id": "alice@example.com", "event_id": "ID", "properties": { "Email": "alice@example.com", "phone": 4915100000, "ip": "1.2.3.4", "ssn": "123", "plan": "pro" }, "context": { "ip": "5.6.7.8", "os": "iOS" } }""";

        using (var response = await collector.PostAsync("/v1/events", Http.Json(pii.Replace("ID", "default-rules"))))
        {
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        var row = (await platform.Probe.RowsUntilAsync(tenant.Id, 1)).Single();
        var properties = JsonNode.Parse((string)row["properties"]!)!.AsObject();
        Assert.Equal("alice@example.com", (string)row["user_id"]!); // ids are kept unless the tenant asks
        Assert.StartsWith("h-", (string)properties["Email"]!);
        Assert.StartsWith("h-", (string)properties["phone"]!);
        Assert.False(properties.ContainsKey("ip"));
        Assert.Equal("123", (string)properties["ssn"]!);
        Assert.Equal("pro", (string)properties["plan"]!);
        Assert.DoesNotContain("1.2.3.4", row.ToJsonString());
        Assert.DoesNotContain("5.6.7.8", row.ToJsonString());

        using var admin = platform.CreateHttpClient("collector");
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminToken);
        using (var updated = await admin.PutAsync($"/admin/v1/tenants/{tenant.Id}/settings", Http.Json("""{ "hash_user_ids": true, "pii_properties": { "ssn": "drop", "email": "hash" } }""")))
        {
            Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        }

        // The Collector serving the admin path drops its cached rules at once.
        using (var response = await collector.PostAsync("/v1/events", Http.Json(pii.Replace("ID", "tenant-rules"))))
        {
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        var hashed = (await platform.Probe.RowsUntilAsync(tenant.Id, 1, "event_id = 'tenant-rules'")).Single();
        var hashedProperties = JsonNode.Parse((string)hashed["properties"]!)!.AsObject();
        Assert.StartsWith("h-", (string)hashed["user_id"]!);
        Assert.Equal((string)properties["Email"]!, (string)hashedProperties["Email"]!); // the same keyed hash: still joinable
        Assert.Equal((string)hashedProperties["Email"]!, (string)hashed["user_id"]!);
        Assert.False(hashedProperties.ContainsKey("ssn"));
        Assert.Equal("4915100000", hashedProperties["phone"]!.ToString()); // no longer listed, so kept
    }

    [Fact]
    public async Task ATenantOverItsEventRateGets429WithRetryAfter()
    {
        var tenant = await platform.CreateTenantAsync();
        using var admin = platform.CreateHttpClient("collector");
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", platform.AdminToken);
        using (var updated = await admin.PutAsync($"/admin/v1/tenants/{tenant.Id}/settings", Http.Json("""{ "events_per_second": 10 }""")))
        {
            Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        }

        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        // The bucket holds one full request (2000 events); the second request in the same second is over.
        var batch = "[" + string.Join(",", Enumerable.Range(0, 1500).Select(i => Http.Event("burst", "u" + i))) + "]";
        using var first = await collector.PostAsync("/v1/events", Http.Json(batch));
        using var second = await collector.PostAsync("/v1/events", Http.Json(batch));

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal("application/problem+json", second.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Too many events", (string)(await second.ReadObjectAsync())["title"]!);
        Assert.True(second.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
    }
}

/// <summary>The per-client request limit, with a platform whose Collector allows two requests per second per address.</summary>
public sealed class ClientRateLimitTests : IAsyncLifetime
{
    private readonly LimitedPlatform _platform = new();

    public Task InitializeAsync() => _platform.InitializeAsync();

    public Task DisposeAsync() => _platform.DisposeAsync();

    [Fact]
    public async Task AClientOverItsRequestRateGets429WithRetryAfterThenIsServedAgain()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 8 && limited is null; i++)
        {
            var response = await collector.PostAsync("/v1/events", Http.Json(Http.Event("e", "u1")));
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
            }
            else
            {
                response.Dispose();
            }
        }

        Assert.NotNull(limited);
        Assert.Contains(HttpStatusCode.Accepted, statuses);
        Assert.Equal("Too many requests", (string)(await limited.ReadObjectAsync())["title"]!);
        Assert.NotNull(limited.Headers.RetryAfter);
        limited.Dispose();

        await Task.Delay(TimeSpan.FromSeconds(2));
        using var later = await collector.PostAsync("/v1/events", Http.Json(Http.Event("e", "u1")));
        Assert.Equal(HttpStatusCode.Accepted, later.StatusCode);
    }

    [Fact]
    public async Task ForwardedForIsHonouredFromTheConfiguredProxyOnlySoOtherClientsCannotPickTheirBucket()
    {
        var tenant = await _platform.CreateTenantAsync();
        var key = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(tenant.WriteKey + ":"));
        using var viaProxy = ClientFrom(IPAddress.Loopback, key); // 127.0.0.1 is the configured proxy
        using var direct = ClientFrom(IPAddress.Parse("127.0.0.2"), key); // a client on another address

        // Behind the proxy, each forwarded client has its own bucket: one exhausting it leaves the next served.
        Assert.Equal(HttpStatusCode.TooManyRequests, await ExhaustAsync(viaProxy, _ => "203.0.113.10"));
        Assert.Equal(HttpStatusCode.Accepted, await PostAsync(viaProxy, "203.0.113.11"));
        // A chain ending in the proxy's client: that hop counts, not what the client wrote before it.
        Assert.Equal(HttpStatusCode.TooManyRequests, await ExhaustAsync(viaProxy, i => $"198.51.100.{i}, 203.0.113.12"));

        // Not from the proxy: the header is ignored, so changing it on every request does not buy a fresh bucket.
        Assert.Equal(HttpStatusCode.TooManyRequests, await ExhaustAsync(direct, i => $"203.0.113.{100 + i}"));
    }

    /// <summary>Up to ten requests as fast as they go (the bucket holds four), until one is refused.</summary>
    private static async Task<HttpStatusCode> ExhaustAsync(HttpClient client, Func<int, string> forwardedFor)
    {
        var status = HttpStatusCode.Accepted;
        for (var i = 0; i < 10 && status != HttpStatusCode.TooManyRequests; i++)
        {
            status = await PostAsync(client, forwardedFor(i));
        }

        return status;
    }

    private static async Task<HttpStatusCode> PostAsync(HttpClient client, string forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/events") { Content = Http.Json(Http.Event("e", "u1")) };
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>A Collector client whose connections leave from <paramref name="source"/> (any 127/8 address is loopback on Linux).</summary>
    private HttpClient ClientFrom(IPAddress source, string basicKey)
    {
        var collector = new Uri(_platform.App["collector"].Url!);
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port), cancellationToken);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        };
        var client = new HttpClient(handler) { BaseAddress = collector, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", basicKey);
        return client;
    }

    private sealed class LimitedPlatform : PlatformFixture
    {
        protected override bool WithDemoData => false;

        protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>
        {
            ["Resources:collector:Environment:Collector__RateLimits__RequestsPerSecondPerClient"] = "2",
            ["Resources:collector:Environment:Collector__TrustedProxies__0"] = "127.0.0.1",
        };
    }
}
