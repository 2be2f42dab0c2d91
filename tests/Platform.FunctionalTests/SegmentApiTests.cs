using System.Net;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>Segment's HTTP tracking API, with payloads shaped as Segment documents them.</summary>
[Collection(PlatformCollection.Name)]
public class SegmentApiTests(PlatformFixture platform)
{
    [Fact]
    public async Task ATrackCallIsStoredWithItsContextMappedAndTheIpLeftOut()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        var sent = DateTimeOffset.UtcNow.AddMinutes(-3);
        var body = $$"""
            {
              "userId": "019mr8mf4r",
              "event": "Item Purchased",
              "properties": { "name": "Leap to Conclusions Mat", "revenue": 14.99 },
              "context": {
                "ip": "24.5.68.47",
                "app": { "name": "InitechGlobal", "version": "545", "build": "3.0.1.545" },
                "device": { "type": "ios", "model": "iPhone7,2" },
                "os": { "name": "iOS", "version": "8.1.3" },
                "library": { "name": "analytics.js", "version": "2.11.1" },
                "locale": "nl-NL",
                "timezone": "Europe/Amsterdam",
                "location": { "country": "NL" },
                "page": { "path": "/academy/", "url": "https://segment.com/academy/" },
                "userAgent": "Mozilla/5.0 (iPhone)",
                "sessionId": "s-42"
              },
              "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
              "timestamp": "{{sent:O}}"
            }
            """;

        using var response = await collector.PostAsync("/v1/track", Http.Json(body));

        var answer = await response.ReadObjectAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True((bool)answer["success"]!);
        var row = (await platform.Probe.RowsUntilAsync(tenant.Id, 1)).Single();
        Assert.Equal("022bb90c-bbac-11e4-8dfc-aa07a5b093db", (string)row["event_id"]!);
        Assert.Equal("track", (string)row["event_type"]!);
        Assert.Equal("Item Purchased", (string)row["event_name"]!);
        Assert.Equal("019mr8mf4r", (string)row["user_id"]!);
        Assert.Equal("s-42", (string)row["session_id"]!);
        Assert.Equal("545", (string)row["app_version"]!);
        Assert.Equal("iOS 8.1.3", (string)row["os"]!);
        Assert.Equal("ios", (string)row["device"]!);
        Assert.Equal("nl-NL", (string)row["locale"]!);
        Assert.Equal("Europe/Amsterdam", (string)row["timezone"]!);
        Assert.Equal("NL", (string)row["country"]!);
        Assert.Equal("analytics.js/2.11.1", (string)row["library"]!);
        Assert.Equal("https://segment.com/academy/", (string)row["page"]!);
        Assert.Equal("Mozilla/5.0 (iPhone)", (string)row["user_agent"]!);
        Assert.Equal(14.99, (double)JsonNode.Parse((string)row["properties"]!)!["revenue"]!);
        Assert.DoesNotContain("24.5.68.47", row.ToJsonString());
        Assert.Equal(sent.ToUnixTimeSeconds(), DateTimeOffset.Parse((string)row["event_time"]! + "Z").ToUnixTimeSeconds());
    }

    [Fact]
    public async Task ABatchWithTheKeyInTheBodySharesItsContextAndKeepsEveryCallType()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateHttpClient("collector"); // no Authorization header: writeKey in the body
        var body = $$"""
            {
              "writeKey": "{{tenant.WriteKey}}",
              "batch": [
                { "type": "identify", "messageId": "m-identify", "userId": "u1", "traits": { "plan": "pro", "address": { "city": "Bonn" } },
                  "context": { "app": { "version": "9.9" } } },
                { "type": "track", "messageId": "m-track", "userId": "u1", "event": "Signed Up",
                  "properties": { "product": { "id": 7, "name": "mat" }, "tags": ["a", "b"] } },
                { "type": "page", "messageId": "m-page", "anonymousId": "a1", "name": "Pricing", "category": "Docs", "properties": { "path": "/pricing" } },
                { "type": "screen", "messageId": "m-screen", "userId": "u1", "name": "Home" },
                { "type": "group", "messageId": "m-group", "userId": "u1", "groupId": "acme", "traits": { "employees": 50 } },
                { "type": "alias", "messageId": "m-alias", "userId": "u1", "previousId": "a1" }
              ],
              "context": { "library": { "name": "analytics-node", "version": "6.0" }, "ip": "10.1.2.3", "app": { "version": "1.0" } }
            }
            """;

        using var response = await collector.PostAsync("/v1/batch", Http.Json(body));

        var answer = await response.ReadObjectAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(6, (int)answer["accepted"]!);
        var rows = (await platform.Probe.RowsUntilAsync(tenant.Id, 6)).ToDictionary(r => (string)r["event_id"]!);
        Assert.Equal(["alias", "group", "identify", "page", "screen", "track"], rows.Values.Select(r => (string)r["event_type"]!).Order());
        Assert.All(rows.Values, r => Assert.Equal("analytics-node/6.0", (string)r["library"]!));
        Assert.All(rows.Values, r => Assert.DoesNotContain("10.1.2.3", r.ToJsonString()));
        Assert.Equal("9.9", (string)rows["m-identify"]["app_version"]!); // the call's own context wins
        Assert.Equal("1.0", (string)rows["m-track"]["app_version"]!);
        Assert.Equal("$identify", (string)rows["m-identify"]["event_name"]!);
        Assert.Equal("Bonn", (string)JsonNode.Parse((string)rows["m-identify"]["traits"]!)!["address.city"]!);
        var track = JsonNode.Parse((string)rows["m-track"]["properties"]!)!;
        Assert.Equal(7, (int)track["product.id"]!);
        Assert.Equal("[\"a\", \"b\"]", (string)track["tags"]!);
        var page = JsonNode.Parse((string)rows["m-page"]["properties"]!)!;
        Assert.Equal(("Pricing", "Docs", "/pricing"), ((string)page["name"]!, (string)page["category"]!, (string)page["path"]!));
        Assert.Equal("a1", (string)rows["m-page"]["anonymous_id"]!);
        Assert.Equal("acme", (string)rows["m-group"]["group_id"]!);
        Assert.Equal(50, (int)JsonNode.Parse((string)rows["m-group"]["traits"]!)!["employees"]!);
        Assert.Equal("a1", (string)rows["m-alias"]["previous_id"]!);
    }

    [Fact]
    public async Task OriginalTimestampIsCorrectedBySentAtButAnExplicitTimestampIsKept()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        // The device's clock runs an hour and a day behind; the event happened five minutes before sending.
        var skew = TimeSpan.FromHours(25);
        var deviceNow = DateTimeOffset.UtcNow - skew;
        var explicitTime = DateTimeOffset.UtcNow.AddHours(-2);
        var body = $$"""
            { "batch": [
                { "type": "track", "messageId": "skewed", "userId": "u1", "event": "e", "originalTimestamp": "{{deviceNow.AddMinutes(-5):O}}" },
                { "type": "track", "messageId": "explicit", "userId": "u1", "event": "e", "timestamp": "{{explicitTime:O}}", "originalTimestamp": "{{deviceNow:O}}" }
              ],
              "sentAt": "{{deviceNow:O}}" }
            """;

        using var response = await collector.PostAsync("/v1/batch", Http.Json(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var rows = (await platform.Probe.RowsUntilAsync(tenant.Id, 2)).ToDictionary(r => (string)r["event_id"]!);
        var corrected = DateTimeOffset.Parse((string)rows["skewed"]["event_time"]! + "Z");
        Assert.InRange(corrected, DateTimeOffset.UtcNow.AddMinutes(-6), DateTimeOffset.UtcNow.AddMinutes(-4));
        Assert.Equal(explicitTime.ToUnixTimeSeconds(), DateTimeOffset.Parse((string)rows["explicit"]["event_time"]! + "Z").ToUnixTimeSeconds());
    }

    [Fact]
    public async Task AMessageResentWithTheSameMessageIdCountsOnce()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);
        var body = $$"""{ "userId": "u1", "event": "Resent", "messageId": "once", "originalTimestamp": "{{DateTimeOffset.UtcNow.AddMinutes(-10):O}}", "sentAt": "{{DateTimeOffset.UtcNow.AddMinutes(-9):O}}" }""";

        for (var i = 0; i < 3; i++)
        {
            using var response = await collector.PostAsync("/v1/track", Http.Json(body));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await Task.Delay(1100); // each copy is received, and so corrected, a second later than the one before
        }

        await platform.Probe.RowsUntilAsync(tenant.Id, 3);
        var counted = await api.CountAsync();
        Assert.Equal(1, (long)counted["total"]!);
    }
}
