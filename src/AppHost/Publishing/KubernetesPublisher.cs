using AppHost.Hosting;
using Map = System.Collections.Generic.Dictionary<string, object>;

namespace AppHost.Publishing;

/// <summary>
/// Kubernetes manifests: a Deployment and a Service per service, a StatefulSet and a headless Service
/// per server, a kustomization listing them, and a Secret template holding the passwords, the services'
/// secrets (admin token, token signing key) and every connection string (so pointing a service at a managed database or a real Kafka cluster is a change to
/// the Secret, not to the manifests). The template is left out of the kustomization on purpose, so its
/// placeholders can never reach a cluster by accident.
/// </summary>
public static class KubernetesPublisher
{
    public const string Folder = "kubernetes";
    public const string SecretName = "platform-secrets";
    public const string SecretFile = "secret.template.yaml";
    public const string NameLabel = "app.kubernetes.io/name";

    private const string ConnectionStringPrefix = "ConnectionStrings__";

    public static IReadOnlyDictionary<string, string> Publish(DeploymentModel model)
    {
        var files = new Dictionary<string, string>();
        foreach (var resource in model.Containers)
        {
            object[] documents = resource switch
            {
                ClickHouseResource clickhouse => ClickHouse(clickhouse),
                PostgresServerResource postgres => Postgres(model, postgres),
                KafkaResource kafka => Kafka(kafka),
                ProjectResource project => Project(model, project),
                _ => throw new NotSupportedException($"No Kubernetes mapping for {resource.GetType().Name}."),
            };
            files[$"{Folder}/{resource.Name}.yaml"] = Yaml.Write([], documents);
        }

        var kustomization = new Map
        {
            ["apiVersion"] = "kustomize.config.k8s.io/v1beta1",
            ["kind"] = "Kustomization",
            ["resources"] = model.Containers.Select(r => (object)$"{r.Name}.yaml").ToList(),
        };
        files[$"{Folder}/kustomization.yaml"] = Yaml.Write(
            [$"Apply with: kubectl apply -k . (after creating the Secret from {SecretFile}, which is deliberately not listed here)."],
            kustomization);
        files[$"{Folder}/{SecretFile}"] = SecretTemplate(model);
        return files;
    }

    /// <summary>The placeholder a password has in the template; the same word everywhere, so one replacement fills in every use.</summary>
    public static string Placeholder(Resource server) => "REPLACE_WITH_" + DeploymentModel.PasswordVariable(server);

    /// <summary>The placeholder a service secret has in the template, e.g. <c>REPLACE_WITH_ADMIN_TOKEN</c>.</summary>
    public static string Placeholder(ProjectSecret secret) => "REPLACE_WITH_" + DeploymentModel.SecretVariable(secret);

    private static string SecretTemplate(DeploymentModel model)
    {
        var data = new Map();
        foreach (var server in model.PasswordProtected)
        {
            data[DeploymentModel.PasswordKey(server)] = Placeholder(server);
        }

        foreach (var serviceSecret in model.Secrets)
        {
            data[serviceSecret.Name] = Placeholder(serviceSecret);
        }

        foreach (var (key, value) in model.Projects.SelectMany(p => model.Environment(p, Placeholder, Placeholder)).Where(e => e.Key.StartsWith(ConnectionStringPrefix, StringComparison.Ordinal)))
        {
            data[key] = value;
        }

        var secret = new Map
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = Metadata(SecretName),
            ["type"] = "Opaque",
            ["stringData"] = data,
        };
        var placeholders = string.Join(", ", model.PasswordProtected.Select(Placeholder));
        var secrets = string.Join(", ", model.Secrets.Select(Placeholder));
        return Yaml.Write(
            [
                $"A template, not a secret: copy it outside the repository, replace {placeholders} with real passwords",
                "(letters and digits: they are embedded in connection strings), point the connection strings at managed",
                $"servers or a real Kafka cluster where production has them, replace {secrets} with",
                "random values (openssl rand -hex 32), then: kubectl apply -f <your copy>.",
            ],
            secret);
    }

    private static object[] Project(DeploymentModel model, ProjectResource project)
    {
        // Connection strings carry passwords and differ per environment: they come from the Secret, as do the
        // service's own secrets; service URLs are plain values.
        var secrets = project.Secrets.ToDictionary(s => s.EnvironmentKey, s => s.Name);
        var environment = model.Environment(project, Placeholder, Placeholder).Select(e =>
            e.Key.StartsWith(ConnectionStringPrefix, StringComparison.Ordinal) ? FromSecret(e.Key, e.Key)
            : secrets.TryGetValue(e.Key, out var secret) ? FromSecret(e.Key, secret)
            : new Map { ["name"] = e.Key, ["value"] = e.Value });
        var container = new Map
        {
            ["name"] = project.Name,
            ["image"] = ContainerSpecs.ServiceImage(project),
            ["ports"] = new List<object> { Port("http", DeploymentModel.ServicePort) },
            ["env"] = environment.Cast<object>().ToList(),
            // Readiness includes dependencies (/health); liveness only asks whether the process answers (/alive), so a
            // database outage takes a pod out of the Service without restarting it.
            ["readinessProbe"] = new Map { ["httpGet"] = new Map { ["path"] = "/health", ["port"] = "http" }, ["periodSeconds"] = 10 },
            ["livenessProbe"] = new Map
            {
                ["httpGet"] = new Map { ["path"] = "/alive", ["port"] = "http" },
                ["initialDelaySeconds"] = 10,
                ["periodSeconds"] = 10,
            },
        };
        var deployment = new Map
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "Deployment",
            ["metadata"] = Metadata(project.Name),
            ["spec"] = new Map
            {
                ["replicas"] = 1,
                ["selector"] = new Map { ["matchLabels"] = Selector(project.Name) },
                ["template"] = new Map
                {
                    ["metadata"] = new Map { ["labels"] = Labels(project.Name) },
                    ["spec"] = new Map { ["containers"] = new List<object> { container } },
                },
            },
        };
        var service = new Map
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Service",
            ["metadata"] = Metadata(project.Name),
            ["spec"] = new Map
            {
                ["selector"] = Selector(project.Name),
                ["ports"] = new List<object> { ServicePort("http", DeploymentModel.ServicePort) },
            },
        };
        return [deployment, service];
    }

    private static object[] ClickHouse(ClickHouseResource clickhouse)
    {
        var environment = ContainerSpecs.ClickHouseEnvironment(clickhouse)
            .Select(e => new Map { ["name"] = e.Key, ["value"] = e.Value })
            .Append(FromSecret("CLICKHOUSE_PASSWORD", DeploymentModel.PasswordKey(clickhouse)));
        var ping = new Map { ["httpGet"] = new Map { ["path"] = "/ping", ["port"] = "http" }, ["periodSeconds"] = 10 };
        var container = new Map
        {
            ["name"] = clickhouse.Name,
            ["image"] = ContainerSpecs.ClickHouseImage,
            ["ports"] = new List<object> { Port("http", ContainerPorts.ClickHouseHttp), Port("native", ContainerPorts.ClickHouseNative) },
            ["env"] = environment.Cast<object>().ToList(),
            ["readinessProbe"] = ping,
            ["livenessProbe"] = ping,
            ["volumeMounts"] = new List<object> { new Map { ["name"] = "data", ["mountPath"] = ContainerSpecs.ClickHouseDataPath } },
        };
        return
        [
            StatefulSet(clickhouse.Name, container, extraPodSpec: null, volumes: null),
            HeadlessService(clickhouse.Name, [ServicePort("http", ContainerPorts.ClickHouseHttp), ServicePort("native", ContainerPorts.ClickHouseNative)]),
        ];
    }

    private static object[] Postgres(DeploymentModel model, PostgresServerResource postgres)
    {
        var initMap = postgres.Name + "-init";
        // Over TCP: during first-start initialisation the image runs a socket-only server that must not count as ready.
        var tcp = new Map { ["tcpSocket"] = new Map { ["port"] = "postgres" }, ["periodSeconds"] = 10 };
        var container = new Map
        {
            ["name"] = postgres.Name,
            ["image"] = ContainerSpecs.PostgresImage,
            ["args"] = ContainerSpecs.PostgresArguments.Cast<object>().ToList(),
            ["ports"] = new List<object> { Port("postgres", ContainerPorts.Postgres) },
            ["env"] = new List<object>
            {
                FromSecret("POSTGRES_PASSWORD", DeploymentModel.PasswordKey(postgres)),
                // A subfolder: the volume's root holds lost+found, which initdb refuses.
                new Map { ["name"] = "PGDATA", ["value"] = ContainerSpecs.PostgresDataPath + "/pgdata" },
            },
            ["readinessProbe"] = tcp,
            ["livenessProbe"] = tcp,
            ["volumeMounts"] = new List<object>
            {
                new Map { ["name"] = "data", ["mountPath"] = ContainerSpecs.PostgresDataPath },
                new Map { ["name"] = "init", ["mountPath"] = ContainerSpecs.PostgresInitPath, ["readOnly"] = true },
            },
        };
        var configMap = new Map
        {
            ["apiVersion"] = "v1",
            ["kind"] = "ConfigMap",
            ["metadata"] = Metadata(initMap),
            ["data"] = new Map { [ContainerSpecs.PostgresInitFile] = new LiteralText(ContainerSpecs.PostgresInitSql(postgres, model.DatabasesOf(postgres))) },
        };
        var volumes = new List<object> { new Map { ["name"] = "init", ["configMap"] = new Map { ["name"] = initMap } } };
        return
        [
            configMap,
            StatefulSet(postgres.Name, container, extraPodSpec: null, volumes),
            HeadlessService(postgres.Name, [ServicePort("postgres", ContainerPorts.Postgres)]),
        ];
    }

    private static object[] Kafka(KafkaResource kafka)
    {
        // The broker advertises its pod's stable name (NAME-0.NAME, through the headless Service) and is its own controller.
        var environment = ContainerSpecs.KafkaEnvironment($"{kafka.Name}-0.{kafka.Name}").Select(e => (object)new Map { ["name"] = e.Key, ["value"] = e.Value });
        var tcp = new Map { ["tcpSocket"] = new Map { ["port"] = "kafka" }, ["periodSeconds"] = 10 };
        var container = new Map
        {
            ["name"] = kafka.Name,
            ["image"] = ContainerSpecs.KafkaImage,
            ["ports"] = new List<object> { Port("kafka", ContainerPorts.Kafka), Port("controller", ContainerPorts.KafkaController) },
            ["env"] = environment.ToList(),
            ["readinessProbe"] = tcp,
            ["livenessProbe"] = new Map(tcp) { ["initialDelaySeconds"] = 30 },
            ["volumeMounts"] = new List<object> { new Map { ["name"] = "data", ["mountPath"] = ContainerSpecs.KafkaDataPath } },
        };
        // The image runs as appuser (uid 1000); the volume must be writable by it.
        var podSecurity = new Map { ["securityContext"] = new Map { ["fsGroup"] = 1000 } };
        // The controller reaches itself through its DNS name before the pod is ready; without publishNotReadyAddresses it never becomes ready.
        var service = HeadlessService(kafka.Name, [ServicePort("kafka", ContainerPorts.Kafka), ServicePort("controller", ContainerPorts.KafkaController)], publishNotReadyAddresses: true);
        return [StatefulSet(kafka.Name, container, podSecurity, volumes: null), service];
    }

    private static Map StatefulSet(string name, Map container, Map? extraPodSpec, List<object>? volumes)
    {
        var podSpec = new Map(extraPodSpec ?? []) { ["containers"] = new List<object> { container } };
        if (volumes is not null)
        {
            podSpec["volumes"] = volumes;
        }

        return new Map
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "StatefulSet",
            ["metadata"] = Metadata(name),
            ["spec"] = new Map
            {
                ["serviceName"] = name,
                ["replicas"] = 1,
                ["selector"] = new Map { ["matchLabels"] = Selector(name) },
                ["template"] = new Map
                {
                    ["metadata"] = new Map { ["labels"] = Labels(name) },
                    ["spec"] = podSpec,
                },
                ["volumeClaimTemplates"] = new List<object>
                {
                    new Map
                    {
                        ["metadata"] = new Map { ["name"] = "data" },
                        ["spec"] = new Map
                        {
                            ["accessModes"] = new List<object> { "ReadWriteOnce" },
                            ["resources"] = new Map { ["requests"] = new Map { ["storage"] = "10Gi" } },
                        },
                    },
                },
            },
        };
    }

    /// <summary>Headless: the StatefulSet's governing Service, giving the pod a stable DNS name.</summary>
    private static Map HeadlessService(string name, List<object> ports, bool publishNotReadyAddresses = false)
    {
        var spec = new Map { ["clusterIP"] = "None", ["selector"] = Selector(name), ["ports"] = ports };
        if (publishNotReadyAddresses)
        {
            spec["publishNotReadyAddresses"] = true;
        }

        return new Map { ["apiVersion"] = "v1", ["kind"] = "Service", ["metadata"] = Metadata(name), ["spec"] = spec };
    }

    private static Map FromSecret(string name, string key) => new()
    {
        ["name"] = name,
        ["valueFrom"] = new Map { ["secretKeyRef"] = new Map { ["name"] = SecretName, ["key"] = key } },
    };

    private static Map Port(string name, int port) => new() { ["name"] = name, ["containerPort"] = port };

    private static Map ServicePort(string name, int port) => new() { ["name"] = name, ["port"] = port, ["targetPort"] = name };

    private static Map Metadata(string name) => new() { ["name"] = name, ["labels"] = Labels(name) };

    private static Map Selector(string name) => new() { [NameLabel] = name };

    private static Map Labels(string name) => new() { [NameLabel] = name, ["app.kubernetes.io/part-of"] = "platform" };
}
