using AppHost.Hosting;
using AppHost.Publishing;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace AppHost.Tests.Publishing;

public class KubernetesPublisherTests
{
    private readonly DistributedApplicationBuilder _model = Published.Model();

    private IReadOnlyList<YamlMappingNode> Documents => Published.Kubernetes(_model);

    [Fact]
    public void EveryDocumentIsAKubernetesObject()
    {
        Assert.NotEmpty(Documents);
        foreach (var document in Documents)
        {
            Assert.NotEmpty(document.Text("apiVersion"));
            Assert.NotEmpty(document.Text("kind"));
            if (document.Text("kind") != "Kustomization")
            {
                Assert.Matches("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", document.Map("metadata").Text("name"));
            }
        }
    }

    [Fact]
    public void KustomizationListsEveryManifestButTheSecretTemplate()
    {
        var files = Published.Files(_model);
        var kustomization = Published.Documents(files["kubernetes/kustomization.yaml"]).Single();
        var listed = kustomization.Sequence("resources").Select(n => ((YamlScalarNode)n).Value!).ToList();
        var manifests = files.Keys
            .Where(k => k.StartsWith("kubernetes/", StringComparison.Ordinal))
            .Select(k => k["kubernetes/".Length..])
            .Where(k => k is not "kustomization.yaml" and not KubernetesPublisher.SecretFile);
        Assert.Equal(manifests.Order(), listed.Order());
        Assert.DoesNotContain(KubernetesPublisher.SecretFile, listed);
    }

    [Fact]
    public void EveryProjectIsADeploymentWithProbesBehindAService()
    {
        var projects = _model.Resources.OfType<ProjectResource>().ToList();
        Assert.NotEmpty(projects);
        foreach (var project in projects)
        {
            var deployment = Documents.Find("Deployment", project.Name);
            var podLabels = deployment.Map("spec").Map("template").Map("metadata").Map("labels").Strings();
            Assert.All(deployment.Map("spec").Map("selector").Map("matchLabels").Strings(), l => Assert.Equal(l.Value, podLabels[l.Key]));

            var container = Assert.IsType<YamlMappingNode>(Assert.Single(deployment.Map("spec").Map("template").Map("spec").Sequence("containers")));
            var port = Assert.IsType<YamlMappingNode>(Assert.Single(container.Sequence("ports")));
            Assert.Equal("8080", port.Text("containerPort"));
            Assert.Equal("/health", container.Map("readinessProbe").Map("httpGet").Text("path"));
            Assert.Equal("/alive", container.Map("livenessProbe").Map("httpGet").Text("path"));
            Assert.Equal(port.Text("name"), container.Map("readinessProbe").Map("httpGet").Text("port"));

            // Other services reach it as http://NAME:8080, the URL in their services__NAME__http__0.
            var service = Documents.Find("Service", project.Name);
            Assert.All(service.Map("spec").Map("selector").Strings(), l => Assert.Equal(l.Value, podLabels[l.Key]));
            var servicePort = Assert.IsType<YamlMappingNode>(Assert.Single(service.Map("spec").Sequence("ports")));
            Assert.Equal("8080", servicePort.Text("port"));
            Assert.Equal(port.Text("name"), servicePort.Text("targetPort"));
        }
    }

    [Fact]
    public void DeploymentsGetExactlyTheConnectionKeysTheirReferencesImplyWithConnectionStringsFromTheSecret()
    {
        var secret = Documents.Find("Secret", KubernetesPublisher.SecretName).Map("stringData").Strings();
        foreach (var project in _model.Resources.OfType<ProjectResource>())
        {
            var container = (YamlMappingNode)Documents.Find("Deployment", project.Name).Map("spec").Map("template").Map("spec").Sequence("containers")[0];
            var environment = container.Sequence("env").Cast<YamlMappingNode>().ToList();
            var names = environment.Select(e => e.Text("name")).ToList();
            Assert.Equal(names.Distinct().Count(), names.Count);
            Assert.Equal(Published.ExpectedReferenceKeys(project).Order(), names.Where(Published.IsReferenceKey).Order());

            foreach (var entry in environment.Where(e => e.Text("name").StartsWith("ConnectionStrings__", StringComparison.Ordinal)))
            {
                var reference = entry.Map("valueFrom").Map("secretKeyRef");
                Assert.Equal(KubernetesPublisher.SecretName, reference.Text("name"));
                Assert.True(secret.ContainsKey(reference.Text("key")), $"{project.Name} reads {reference.Text("key")}, which the Secret template lacks");
                Assert.False(entry.Has("value"));
            }
        }
    }

    [Fact]
    public void SecretTemplateHoldsPlaceholdersNeverPasswords()
    {
        var secret = Documents.Find("Secret", KubernetesPublisher.SecretName).Map("stringData").Strings();
        foreach (var server in _model.Resources.Where(r => r is ClickHouseResource or PostgresServerResource))
        {
            Assert.Equal(KubernetesPublisher.Placeholder(server), secret[$"{server.Name}-password"]);
        }

        foreach (var (key, value) in secret.Where(s => s.Key.StartsWith("ConnectionStrings__", StringComparison.Ordinal)))
        {
            var password = value.Split(';').Select(p => p.Split('=', 2)).Where(p => p[0] == "Password").Select(p => p[1]).SingleOrDefault();
            Assert.True(password is null || password.StartsWith("REPLACE_WITH_", StringComparison.Ordinal), $"{key} holds a password that is not a placeholder");
        }
    }

    [Fact]
    public void ServiceSecretsComeFromTheSecretWhoseTemplateHoldsPlaceholders()
    {
        var secret = Documents.Find("Secret", KubernetesPublisher.SecretName).Map("stringData").Strings();
        Assert.Equal("REPLACE_WITH_ADMIN_TOKEN", secret["admin-token"]);
        Assert.Equal("REPLACE_WITH_JWT_SIGNING_KEY", secret["jwt-signing-key"]);
        foreach (var (service, key, secretKey) in new[] { ("collector", "Collector__AdminToken", "admin-token"), ("api", "Api__Jwt__SigningKey", "jwt-signing-key") })
        {
            var container = (YamlMappingNode)Documents.Find("Deployment", service).Map("spec").Map("template").Map("spec").Sequence("containers")[0];
            var entry = Assert.Single(container.Sequence("env").Cast<YamlMappingNode>(), e => e.Text("name") == key);
            Assert.Equal(KubernetesPublisher.SecretName, entry.Map("valueFrom").Map("secretKeyRef").Text("name"));
            Assert.Equal(secretKey, entry.Map("valueFrom").Map("secretKeyRef").Text("key"));
            Assert.False(entry.Has("value"));
        }
    }

    [Fact]
    public void ServersAreStatefulSetsWithAGoverningHeadlessService()
    {
        var servers = _model.Resources.Where(r => r is ClickHouseResource or PostgresServerResource or KafkaResource).ToList();
        Assert.Equal(3, servers.Count);
        foreach (var server in servers)
        {
            var statefulSet = Documents.Find("StatefulSet", server.Name);
            Assert.Equal(server.Name, statefulSet.Map("spec").Text("serviceName"));
            Assert.Single(statefulSet.Map("spec").Sequence("volumeClaimTemplates"));
            var container = (YamlMappingNode)statefulSet.Map("spec").Map("template").Map("spec").Sequence("containers")[0];
            Assert.True(container.Has("readinessProbe"), $"{server.Name} has no readiness probe");

            var service = Documents.Find("Service", server.Name);
            Assert.Equal("None", service.Map("spec").Text("clusterIP"));
        }

        var postgres = (YamlMappingNode)Documents.Find("StatefulSet", "postgres").Map("spec").Map("template").Map("spec").Sequence("containers")[0];
        Assert.Contains("wal_level=logical", postgres.Sequence("args").Select(n => ((YamlScalarNode)n).Value));
    }

    [Fact]
    public void EnvironmentValuesStayStrings()
    {
        // Kubernetes rejects a number or a boolean as an env value; "1" and "on" must be quoted.
        var values = Documents
            .SelectMany(d => Descendants(d).OfType<YamlMappingNode>())
            .Where(m => m.Has("name") && m.Has("value"))
            .Select(m => (YamlScalarNode)m.Children[new YamlScalarNode("value")])
            .ToList();
        Assert.NotEmpty(values);
        Assert.Contains(values, v => v.Value == "1");
        foreach (var value in values.Where(v => v.Value is { } text && (long.TryParse(text, out _) || text is "true" or "false" or "on" or "off" or "yes" or "no")))
        {
            Assert.NotEqual(ScalarStyle.Plain, value.Style);
        }
    }

    private static IEnumerable<YamlNode> Descendants(YamlNode node) => node switch
    {
        YamlMappingNode mapping => mapping.Children.Values.SelectMany(Descendants).Prepend(node),
        YamlSequenceNode sequence => sequence.Children.SelectMany(Descendants).Prepend(node),
        _ => [node],
    };
}
