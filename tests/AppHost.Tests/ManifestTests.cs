using System.Diagnostics;
using System.Text.Json.Nodes;

namespace AppHost.Tests;

/// <summary>
/// The Aspire manifest azd deploys from: <c>dotnet run --project src/AppHost -- --publisher manifest
/// --output-path X</c> names every resource, as containers, projects and parameters.
/// </summary>
public sealed class ManifestTests : IAsyncLifetime
{
    private readonly string _output = Path.Combine(Path.GetTempPath(), "manifest-" + Guid.NewGuid().ToString("N"), "aspire-manifest.json");
    private JsonObject _resources = [];

    public async Task InitializeAsync()
    {
        // The AppHost's own build output, of the same configuration as this test's (bin/CONFIG/net10.0).
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var root = output;
        while (!File.Exists(Path.Combine(root.FullName, "Platform.sln")))
        {
            root = root.Parent!;
        }

        var appHost = Path.Combine(root.FullName, "src", "AppHost", "bin", output.Parent!.Name, output.Name, "AppHost.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { appHost, "--publisher", "manifest", "--output-path", _output })
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);
        Assert.True(process.ExitCode == 0, await stdout + await stderr);
        _resources = JsonNode.Parse(await File.ReadAllTextAsync(_output))!["resources"]!.AsObject();
    }

    public Task DisposeAsync()
    {
        Directory.Delete(Path.GetDirectoryName(_output)!, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public void EveryResourceOfThePlatformIsNamed()
    {
        foreach (var (name, type) in new[]
        {
            ("clickhouse", "container.v0"), ("postgres", "container.v0"), ("platform", "value.v0"), ("app", "value.v0"),
            ("kafka", "container.v0"), ("collector", "project.v0"), ("ingestor", "project.v0"), ("transformer", "project.v0"),
            ("api", "project.v0"), ("grafana", "container.v1"),
        })
        {
            Assert.True(_resources.ContainsKey(name), $"the manifest has no '{name}': {string.Join(", ", _resources.Select(r => r.Key))}");
            Assert.Equal(type, (string?)_resources[name]!["type"]);
        }

        // The demo tasks are for a local run only.
        Assert.DoesNotContain("demo", _resources.Select(r => r.Key));
    }

    [Fact]
    public void ServicesAreHandedConnectionStringsAndSecretsByReference()
    {
        var ingestor = _resources["ingestor"]!["env"]!.AsObject();
        Assert.Equal("{clickhouse.connectionString}", (string?)ingestor["ConnectionStrings__clickhouse"]);
        Assert.Equal("{kafka.connectionString}", (string?)ingestor["ConnectionStrings__kafka"]);
        Assert.Equal("{app.connectionString}", (string?)ingestor["ConnectionStrings__app"]);

        var collector = _resources["collector"]!["env"]!.AsObject();
        Assert.Equal("{admin-token.value}", (string?)collector["Collector__AdminToken"]);
        Assert.Equal("{platform.connectionString}", (string?)collector["ConnectionStrings__platform"]);
        Assert.Equal("{jwt-signing-key.value}", (string?)_resources["api"]!["env"]!["Api__Jwt__SigningKey"]);
        Assert.Equal("{ingestor.bindings.http.url}", (string?)_resources["api"]!["env"]!["services__ingestor__http__0"]);

        // Secrets are deployment inputs that azd asks for, never values baked into the manifest.
        foreach (var secret in new[] { "admin-token", "jwt-signing-key", "clickhouse-password" })
        {
            Assert.Equal("parameter.v0", (string?)_resources[secret]!["type"]);
            Assert.True((bool?)_resources[secret]!["inputs"]!["value"]!["secret"]);
        }
    }

    [Fact]
    public void TheServersRunCurrentImagesWithTheLocalSettings()
    {
        Assert.StartsWith("clickhouse/clickhouse-server:", (string?)_resources["clickhouse"]!["image"]);
        Assert.StartsWith("apache/kafka:", (string?)_resources["kafka"]!["image"]);
        Assert.Contains("wal_level=logical", _resources["postgres"]!["args"]!.AsArray().Select(a => (string?)a));
        Assert.Contains("{clickhouse-password.value}", (string?)_resources["clickhouse"]!["connectionString"]);
    }
}
