using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// Who may read: read keys and signed tokens carrying the tenant, each answered for its own tenant
/// only; write keys, forged, expired and tenant-less tokens refused with problem bodies; the tenant
/// is never taken from the query string; the token command mints tokens the Api accepts.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class AccessTests(MetricsPlatform platform)
{
    [Fact]
    public async Task ReadKeysAndTokensReadTheirOwnTenantAndNothingElseGetsIn()
    {
        var mine = await platform.CreateTenantAsync();
        var theirs = await platform.CreateTenantAsync();
        var now = DateTimeOffset.UtcNow.AddMinutes(-2);
        await platform.SendAsync(mine, Enumerable.Range(0, 3).Select(i => TestEvents.Track("open", $"u{i}", now)));
        await platform.SendAsync(theirs, Enumerable.Range(0, 7).Select(i => TestEvents.Track("open", $"u{i}", now)));
        await platform.WaitForStoredAsync(mine, 3);
        await platform.WaitForStoredAsync(theirs, 7);
        const string path = "/v1/trends?event=open&interval=day";

        async Task<long> TotalAsync(string credential, string query = "") =>
            (long)(await MetricsPlatform.GetJsonAsync(platform.Api(credential), path + query))["series"]![0]!["total"]!;

        Assert.Equal(3, await TotalAsync(mine.ReadKey));
        Assert.Equal(3, await TotalAsync(mine.ReadKey, $"&tenant_id={theirs.Id}&tenant={theirs.Id}"));
        Assert.Equal(3, await TotalAsync(Token(mine.Id)));
        Assert.Equal(7, await TotalAsync(Token(theirs.Id)));
        Assert.Equal(3, await TotalAsync(await MintWithCommandAsync(mine.Id)));

        foreach (var (credential, why) in new[]
        {
            ("", "no credential"),
            (mine.WriteKey, "a write key"),
            ("rk_" + new string('0', 40), "an unknown key"),
            (Token(mine.Id, key: "another-platform's-signing-key-0123456789"), "a forged token"),
            (Token(mine.Id, expires: DateTimeOffset.UtcNow.AddMinutes(-5)), "an expired token"),
            (Token(null), "a token without tenant"),
            (Token("Robert'); DROP TABLE raw_events;--"), "a token with an invalid tenant"),
            (Token(mine.Id, algorithm: "none"), "an unsigned token"),
        })
        {
            using var api = platform.Api("x");
            api.DefaultRequestHeaders.Authorization = credential.Length == 0 ? null : new AuthenticationHeaderValue("Bearer", credential);
            using var response = await api.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{why}: {(int)response.StatusCode}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        // A token whose scope lacks metrics is authenticated but may not read.
        await MetricsPlatform.GetProblemAsync(platform.Api(Token(mine.Id, scope: "users")), path, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesTheMetricsEndpoints()
    {
        using var anonymous = platform.CreateHttpClient("api");
        var document = JsonNode.Parse(await anonymous.GetStringAsync("/openapi/v1.json"))!;
        var paths = document["paths"]!.AsObject().Select(p => p.Key).ToList();
        Assert.Superset(new HashSet<string>
        {
            "/v1/trends", "/v1/active-users", "/v1/funnels", "/v1/retention", "/v1/sessions", "/v1/feature-adoption",
            "/v1/users/{userId}/events", "/v1/pipeline/health", "/v1/events/count",
        }, paths.ToHashSet());
    }

    /// <summary>An HS256 token built here by hand, independently of the Api's own code.</summary>
    private string Token(string? tenant, string? key = null, DateTimeOffset? expires = null, string scope = "metrics", string algorithm = "HS256")
    {
        static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var header = B64(Encoding.UTF8.GetBytes(new JsonObject { ["alg"] = algorithm, ["typ"] = "JWT" }.ToJsonString()));
        var claims = new JsonObject
        {
            ["iss"] = "platform",
            ["aud"] = "platform-api",
            ["scope"] = scope,
            ["iat"] = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeSeconds(),
            ["nbf"] = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeSeconds(),
            ["exp"] = (expires ?? DateTimeOffset.UtcNow.AddHours(1)).ToUnixTimeSeconds(),
        };
        if (tenant is not null)
        {
            claims["tenant_id"] = tenant;
        }

        var unsigned = header + "." + B64(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        return algorithm == "none"
            ? unsigned + "."
            : unsigned + "." + B64(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key ?? platform.JwtSigningKey), Encoding.UTF8.GetBytes(unsigned)));
    }

    /// <summary>Runs the Api's own <c>token</c> command, as an operator would for Grafana.</summary>
    private async Task<string> MintWithCommandAsync(string tenant)
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "Platform.sln")))
        {
            root = root.Parent!;
        }

        var dll = Directory.GetFiles(Path.Combine(root.FullName, "src", "Api", "bin"), "Api.dll", SearchOption.AllDirectories)
            .OrderByDescending(File.GetLastWriteTimeUtc).First();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { dll, "token", "--tenant", tenant, "--days", "1", "--signing-key", platform.JwtSigningKey })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await process.StandardError.ReadToEndAsync());
        return output.Trim();
    }
}
