using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>Every refusal is a precise 4xx with a problem-details body; none is a 500.</summary>
[Collection(PlatformCollection.Name)]
public class BadInputTests(PlatformFixture platform)
{
    public static TheoryData<string, string, string, int, string> CollectorCases => new()
    {
        // name, body, content type, status, title
        { "malformed JSON", "{\"event\": ", "application/json", 400, "Malformed JSON" },
        { "not JSON at all", "hello", "application/json", 400, "Malformed JSON" },
        { "a JSON string", "\"event\"", "application/json", 400, "Unexpected body" },
        { "a JSON number", "42", "application/json", 400, "Unexpected body" },
        { "batch is not an array", "{\"batch\": {}}", "application/json", 400, "Unexpected body" },
        { "empty array", "[]", "application/json", 400, "No events" },
        { "empty batch", "{\"batch\": []}", "application/json", 400, "No events" },
        { "only bad events", "[{\"event\": 1}, {\"user_id\": \"u\"}]", "application/json", 400, "No valid events" },
        { "event name with a quote", "{\"event\": \"x'y\", \"user_id\": \"u\"}", "application/json", 400, "No valid events" },
        { "event name too long", "{\"event\": \"" + new string('e', 200) + "\", \"user_id\": \"u\"}", "application/json", 400, "No valid events" },
        { "properties is an array", "{\"event\": \"e\", \"user_id\": \"u\", \"properties\": [1]}", "application/json", 400, "No valid events" },
        { "user_id is a number", "{\"event\": \"e\", \"user_id\": 7}", "application/json", 400, "No valid events" },
        { "timestamp is a number", "{\"event\": \"e\", \"user_id\": \"u\", \"timestamp\": 1700000000}", "application/json", 400, "No valid events" },
        { "timestamp is not a date", "{\"event\": \"e\", \"user_id\": \"u\", \"timestamp\": \"yesterday\"}", "application/json", 400, "No valid events" },
        { "too deeply nested", new string('[', 100) + new string(']', 100), "application/json", 400, "Malformed JSON" },
        { "form content type", "event=x", "application/x-www-form-urlencoded", 415, "Unsupported content type" },
        { "text content type", "{}", "text/plain", 415, "Unsupported content type" },
        { "oversized body", "[" + string.Join(",", Enumerable.Repeat("{\"event\":\"e\",\"user_id\":\"" + new string('u', 200) + "\"}", 3000)) + "]", "application/json", 413, "Request too large" },
    };

    [Theory]
    [MemberData(nameof(CollectorCases))]
    public async Task TheCollectorRefusesBadBodiesPrecisely(string name, string body, string contentType, int status, string title)
    {
        using var collector = platform.CreateCollectorClient(platform.Demo.WriteKey);

        using var response = await collector.PostAsync("/v1/events", new StringContent(body, Encoding.UTF8, contentType));

        await AssertProblemAsync(response, status, title, name);
    }

    [Fact]
    public async Task TheCollectorRefusesARequestWithoutAKey()
    {
        using var collector = platform.CreateHttpClient("collector");

        using var response = await collector.PostAsync("/v1/events", Http.Json(Http.Event("e", "u")));

        await AssertProblemAsync(response, 401, "Unknown write key");
    }

    [Theory]
    [InlineData("Basic", "d2tfbm90X2Ffa2V5Og==")] // wk_not_a_key:
    [InlineData("Bearer", "wk_0000000000000000000000000000000000000000")]
    [InlineData("Basic", "!!!not-base64!!!")]
    public async Task TheCollectorRefusesUnknownKeys(string scheme, string value)
    {
        using var collector = platform.CreateHttpClient("collector");
        collector.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(scheme, value);

        using var response = await collector.PostAsync("/v1/events", Http.Json(Http.Event("e", "u")));

        await AssertProblemAsync(response, 401, "Unknown write key");
    }

    [Fact]
    public async Task AReadKeyCannotWriteEvents()
    {
        using var collector = platform.CreateCollectorClient(platform.Demo.ReadKey);

        using var response = await collector.PostAsync("/v1/events", Http.Json(Http.Event("e", "u")));

        await AssertProblemAsync(response, 401, "Unknown write key");
    }

    [Fact]
    public async Task AnUnsupportedContentEncodingIsRefused()
    {
        using var collector = platform.CreateCollectorClient(platform.Demo.WriteKey);
        var content = Http.Json(Http.Event("e", "u"));
        content.Headers.ContentEncoding.Add("br");

        using var response = await collector.PostAsync("/v1/events", content);

        await AssertProblemAsync(response, 415, "Unsupported content encoding");
    }

    [Fact]
    public async Task ACorruptGzipBodyIsRefused()
    {
        using var collector = platform.CreateCollectorClient(platform.Demo.WriteKey);
        var content = new ByteArrayContent([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8]);
        content.Headers.ContentType = new("application/json");
        content.Headers.ContentEncoding.Add("gzip");

        using var response = await collector.PostAsync("/v1/events", content);

        await AssertProblemAsync(response, 400, "Malformed gzip body");
    }

    public static TheoryData<string, int, string> ApiCases => new()
    {
        { "?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "Bad time range" },
        { "?from=yesterday", 400, "Bad time range" },
        { "?from=2026-01-01T00:00:00", 400, "Bad time range" },
        { "?from=1900-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "Bad time range" },
        { "?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "Bad time range" },
        { "?to=9999-12-31T23:59:59Z", 400, "Bad time range" },
        { "?event=" + new string('x', 300), 400, "Bad event name" },
    };

    [Theory]
    [MemberData(nameof(ApiCases))]
    public async Task TheApiRefusesBadQueriesPrecisely(string query, int status, string title)
    {
        using var api = platform.CreateApiClient(platform.Demo.ReadKey);

        using var response = await api.GetAsync("/v1/events/count" + query);

        await AssertProblemAsync(response, status, title, query);
    }

    [Fact]
    public async Task TheApiRefusesAWriteKey()
    {
        using var api = platform.CreateApiClient(platform.Demo.WriteKey);

        using var response = await api.GetAsync("/v1/events/count");

        await AssertProblemAsync(response, 401, "Unknown read key");
    }

    [Fact]
    public async Task TheApiRefusesARequestWithoutAKey()
    {
        using var api = platform.CreateHttpClient("api");

        using var response = await api.GetAsync("/v1/events/count");

        await AssertProblemAsync(response, 401, "Unknown read key");
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, int status, string title, string? because = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"{because}: expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = System.Text.Json.Nodes.JsonNode.Parse(body)!;
        Assert.Equal(status, (int)problem["status"]!);
        Assert.Equal(title, (string)problem["title"]!);
        Assert.False(string.IsNullOrWhiteSpace((string?)problem["detail"]), "a problem says what is wrong");
    }
}
