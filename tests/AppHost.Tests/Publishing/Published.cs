using AppHost;
using AppHost.Hosting;
using AppHost.Publishing;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace AppHost.Tests.Publishing;

/// <summary>The platform's own model, what publishing makes of it, and a few ways to read the result.</summary>
internal static class Published
{
    /// <summary>The model as <c>dotnet run -- publish</c> declares it (demo data included, as by default).</summary>
    public static DistributedApplicationBuilder Model()
    {
        var options = new AppHostOptions { StateDirectory = Path.Combine(Path.GetTempPath(), "apphost-publishing-tests") };
        return new DistributedApplicationBuilder(options, new ConfigurationBuilder().Build()).AddPlatform();
    }

    public static IReadOnlyDictionary<string, string> Files(DistributedApplicationBuilder builder) =>
        PublishCommand.Generate(builder.Resources, PublishCommand.DefaultOutput);

    public static YamlMappingNode Compose(DistributedApplicationBuilder builder) =>
        Documents(Files(builder)[ComposePublisher.FileName]).Single();

    /// <summary>Every Kubernetes document the publish produced, from every manifest file.</summary>
    public static IReadOnlyList<YamlMappingNode> Kubernetes(DistributedApplicationBuilder builder) =>
        Files(builder).Where(f => f.Key.StartsWith("kubernetes/", StringComparison.Ordinal)).SelectMany(f => Documents(f.Value)).ToList();

    public static IReadOnlyList<YamlMappingNode> Documents(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Select(d => Assert.IsType<YamlMappingNode>(d.RootNode)).ToList();
    }

    public static YamlMappingNode Find(this IEnumerable<YamlMappingNode> documents, string kind, string name) =>
        Assert.Single(documents, d => d.Text("kind") == kind && d.Map("metadata").Text("name") == name);

    /// <summary>The names of the containers a deployment must wait for, worked out independently of the publisher.</summary>
    public static ISet<string> ExpectedWaits(Resource resource) => resource.WaitsFor
        .Where(w => w is not (DemoDataResource or ProductSchemaResource or DemoWriterResource))
        .Select(w => w is PostgresDatabaseResource database ? database.Server.Name : w.Name)
        .ToHashSet();

    /// <summary>The configuration keys a service's references imply, in .NET Aspire's shapes.</summary>
    public static ISet<string> ExpectedReferenceKeys(ProjectResource project) => project.References
        .Select(r => r is ProjectResource referenced ? $"services__{referenced.Name}__http__0" : $"ConnectionStrings__{r.Name}")
        .ToHashSet();

    public static bool IsReferenceKey(string key) =>
        key.StartsWith("ConnectionStrings__", StringComparison.Ordinal) || key.StartsWith("services__", StringComparison.Ordinal);

    public static YamlMappingNode Map(this YamlNode node, string key) => Assert.IsType<YamlMappingNode>(Child(node, key));

    public static YamlSequenceNode Sequence(this YamlNode node, string key) => Assert.IsType<YamlSequenceNode>(Child(node, key));

    public static string Text(this YamlNode node, string key) => Assert.IsType<YamlScalarNode>(Child(node, key)).Value ?? "";

    public static bool Has(this YamlNode node, string key) => ((YamlMappingNode)node).Children.ContainsKey(new YamlScalarNode(key));

    public static IEnumerable<string> Keys(this YamlMappingNode node) => node.Children.Keys.Select(k => ((YamlScalarNode)k).Value ?? "");

    public static IReadOnlyDictionary<string, string> Strings(this YamlMappingNode node) =>
        node.Children.ToDictionary(c => ((YamlScalarNode)c.Key).Value ?? "", c => Assert.IsType<YamlScalarNode>(c.Value).Value ?? "");

    private static YamlNode Child(YamlNode node, string key)
    {
        var mapping = Assert.IsType<YamlMappingNode>(node);
        Assert.True(mapping.Children.TryGetValue(new YamlScalarNode(key), out var child), $"'{key}' is missing from {mapping}");
        return child;
    }
}
