using System.Net;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests;

[Collection(PlatformCollection.Name)]
public class HealthAndEndpointsTests(PlatformFixture platform)
{
    [Fact]
    public void TheEndpointsFileNamesEveryResourceAndTheDemoKeys()
    {
        var endpoints = platform.Endpoints;

        foreach (var service in new[] { "collector", "api", "ingestor", "transformer" })
        {
            Assert.StartsWith("http://localhost:", (string)endpoints[service]!);
        }

        Assert.StartsWith("Endpoint=http://127.0.0.1:", (string)endpoints["clickhouse"]!);
        Assert.Contains("Database=platform", (string)endpoints["platform"]!);
        Assert.Contains("Database=app", (string)endpoints["app"]!);
        Assert.Contains("Host=127.0.0.1", (string)endpoints["postgres"]!);
        Assert.StartsWith("127.0.0.1:", (string)endpoints["kafka"]!);
        Assert.Equal("demo", (string)endpoints["demo"]!["tenant_id"]!);
        Assert.StartsWith("wk_", (string)endpoints["demo"]!["write_key"]!);
        Assert.StartsWith("rk_", (string)endpoints["demo"]!["read_key"]!);
    }

    [Theory]
    [InlineData("collector", new[] { "kafka", "platform" })]
    [InlineData("ingestor", new[] { "clickhouse", "kafka", "clickhouse-schema" })]
    [InlineData("transformer", new[] { "clickhouse" })]
    [InlineData("api", new[] { "clickhouse", "platform" })]
    public async Task EveryServiceIsHealthyAndChecksItsDependencies(string service, string[] checks)
    {
        using var client = platform.CreateHttpClient(service);

        using var health = await client.GetAsync("/health");
        using var alive = await client.GetAsync("/alive");
        var report = JsonNode.Parse(await health.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal("Healthy", (string)report["status"]!);
        foreach (var check in checks)
        {
            Assert.Equal("Healthy", (string)report["checks"]![check]!["status"]!);
        }
    }

    [Fact]
    public async Task AnUnknownRouteIsAProblemNotAnEmptyPage()
    {
        using var client = platform.CreateHttpClient("api");

        using var response = await client.GetAsync("/v1/nothing-here");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
