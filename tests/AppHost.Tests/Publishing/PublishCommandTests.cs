using AppHost.Hosting;
using AppHost.Publishing;

namespace AppHost.Tests.Publishing;

public class PublishCommandTests
{
    private const string RegenerateHint = "Regenerate with: dotnet run --project src/AppHost -- publish";

    [Fact]
    public void CheckedInDeploymentFilesMatchTheModel()
    {
        var generated = Published.Files(Published.Model());
        var output = PublishCommand.DefaultOutput;
        Assert.True(Directory.Exists(output), $"{output} does not exist. {RegenerateHint}");

        var checkedIn = Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(output, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.True(generated.Keys.SequenceEqual(checkedIn),
            $"deploy/generated holds [{string.Join(", ", checkedIn)}] but the model produces [{string.Join(", ", generated.Keys)}]. {RegenerateHint}");
        foreach (var (path, content) in generated)
        {
            Assert.True(content == File.ReadAllText(Path.Combine(output, path)), $"deploy/generated/{path} is stale. {RegenerateHint}");
        }
    }

    [Fact]
    public void NoLoopbackAddressLeaksIntoGeneratedFiles()
    {
        foreach (var (path, content) in Published.Files(Published.Model()))
        {
            foreach (var loopback in new[] { "127.0.0.1", "localhost", "[::1]", "0.0.0.0" })
            {
                Assert.False(content.Contains(loopback, StringComparison.OrdinalIgnoreCase), $"{path} contains {loopback}");
            }
        }
    }

    [Fact]
    public void EveryGeneratedYamlFileParsesAndSaysItIsGenerated()
    {
        var files = Published.Files(Published.Model());
        var yaml = files.Where(f => f.Key.EndsWith(".yml", StringComparison.Ordinal) || f.Key.EndsWith(".yaml", StringComparison.Ordinal)).ToList();
        Assert.Contains(yaml, f => f.Key == ComposePublisher.FileName);
        Assert.Contains(yaml, f => f.Key == "kubernetes/kustomization.yaml");
        foreach (var (path, content) in yaml)
        {
            Assert.NotEmpty(Published.Documents(content));
        }

        Assert.All(files, f => Assert.Contains(Generated.Notice, f.Value.Split('\n')[0], StringComparison.Ordinal));
    }

    [Fact]
    public void AServiceAddedToTheModelIsPublishedEverywhere()
    {
        var builder = Published.Model();
        var kafka = builder.Resources.OfType<KafkaResource>().Single();
        var collector = builder.Resources.OfType<ProjectResource>().Single(p => p.Name == "collector");
        builder.AddProject("alerts", "Alerts", preferredPort: 5099).WithReference(kafka).WithReference(collector).WaitFor(collector);

        var compose = Published.Compose(builder).Map("services").Map("alerts");
        Assert.Equal("Alerts", compose.Map("build").Map("args").Text("PROJECT"));
        Assert.Equal(["collector"], compose.Map("depends_on").Keys());
        Assert.Equal("http://collector:8080", compose.Map("environment").Text("services__collector__http__0"));
        Assert.Equal("kafka:9092", compose.Map("environment").Text("ConnectionStrings__kafka"));

        var kubernetes = Published.Kubernetes(builder);
        kubernetes.Find("Deployment", "alerts");
        kubernetes.Find("Service", "alerts");
        Assert.Contains("alerts.yaml", Published.Files(builder)["kubernetes/kustomization.yaml"], StringComparison.Ordinal);
    }

    [Fact]
    public void AResourceTypePublishingDoesNotKnowIsRefused()
    {
        var builder = Published.Model();
        builder.AddResource(new UnknownResource("redis"));

        var error = Assert.Throws<NotSupportedException>(() => Published.Files(builder));
        Assert.Contains("'redis'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PublishVerbWritesTheFilesAndRemovesOnlyStaleGeneratedOnes()
    {
        var output = Directory.CreateTempSubdirectory("apphost-publish-").FullName;
        try
        {
            var stale = Path.Combine(output, "kubernetes", "removed-service.yaml");
            Directory.CreateDirectory(Path.GetDirectoryName(stale)!);
            await File.WriteAllTextAsync(stale, $"# {Generated.Notice}\nkind: Deployment\n");
            var ownFile = Path.Combine(output, "kubernetes", "notes.yaml");
            await File.WriteAllTextAsync(ownFile, "# written by a person\n");

            // The same path Program.cs takes: Create must accept the verb and its option as arguments.
            string[] args = ["publish", "--output", output];
            var builder = DistributedApplicationBuilder.Create(args).AddPlatform();
            Assert.Equal(0, await PublishCommand.RunAsync(builder, args));

            var expected = PublishCommand.Generate(builder.Resources, output);
            foreach (var (path, content) in expected)
            {
                Assert.Equal(content, await File.ReadAllTextAsync(Path.Combine(output, path)));
            }

            Assert.False(File.Exists(stale));
            Assert.True(File.Exists(ownFile));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    private sealed class UnknownResource(string name) : Resource(name)
    {
        public override Task StartAsync(ResourceContext context, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
