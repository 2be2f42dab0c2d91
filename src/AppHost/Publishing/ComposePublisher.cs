using AppHost.Hosting;
using Map = System.Collections.Generic.Dictionary<string, object>;

namespace AppHost.Publishing;

/// <summary>
/// <c>docker-compose.yml</c>: one compose service per container of the model, each named after its
/// resource (so the name is also its host name), wired with the same keys the AppHost hands out locally.
/// Passwords and the services' secrets are compose variables that must be set (<c>${POSTGRES_PASSWORD:?...}</c>,
/// <c>${ADMIN_TOKEN:?...}</c>); nothing secret is written.
/// </summary>
public static class ComposePublisher
{
    public const string FileName = "docker-compose.yml";

    /// <summary>The files, by path relative to <paramref name="outputDirectory"/>, which is where the compose file will live.</summary>
    public static IReadOnlyDictionary<string, string> Publish(DeploymentModel model, string outputDirectory, string repositoryRoot)
    {
        var files = new Dictionary<string, string>();
        // Relative, so the file works from any checkout; compose resolves it against the compose file's folder.
        var buildContext = Path.GetRelativePath(outputDirectory, repositoryRoot).Replace('\\', '/');
        var services = new Map();
        var volumes = new Map();
        foreach (var resource in model.Containers)
        {
            var service = resource switch
            {
                ClickHouseResource clickhouse => ClickHouse(clickhouse),
                PostgresServerResource postgres => Postgres(postgres),
                KafkaResource kafka => Kafka(kafka),
                ProjectResource project => Project(model, project, buildContext),
                _ => throw new NotSupportedException($"No compose mapping for {resource.GetType().Name}."),
            };

            if (resource is not ProjectResource)
            {
                volumes[DataVolume(resource)] = new Map();
            }

            if (resource is PostgresServerResource server)
            {
                files[$"{InitFolder(server)}/{ContainerSpecs.PostgresInitFile}"] = ContainerSpecs.PostgresInitSql(server, model.DatabasesOf(server));
            }

            if (model.WaitsFor(resource) is { Count: > 0 } waits)
            {
                // service_healthy, not service_started: the AppHost also waits until a dependency answers its health check.
                service["depends_on"] = waits.ToDictionary(w => w.Name, _ => (object)new Map { ["condition"] = "service_healthy" });
            }

            services[resource.Name] = service;
        }

        var compose = new Map { ["name"] = "platform", ["services"] = services, ["volumes"] = volumes };
        var passwords = string.Concat(model.PasswordProtected.Select(DeploymentModel.PasswordVariable)
            .Concat(model.Secrets.Select(DeploymentModel.SecretVariable)).Select(v => $"{v}=... "));
        files[FileName] = Yaml.Write([$"Usage, from this folder: {passwords}docker compose up --build -d"], compose);
        return files;
    }

    /// <summary>Compose interpolates the variable when it reads the file; <c>:?</c> on the servers makes an unset one an error.</summary>
    private static string Variable(Resource server) => "${" + DeploymentModel.PasswordVariable(server) + "}";

    private static string RequiredVariable(Resource server) => RequiredVariable(DeploymentModel.PasswordVariable(server));

    // A service secret is required where the service reads it: unset, the admin path or token sign-in would be silently off.
    private static string RequiredVariable(ProjectSecret secret) => RequiredVariable(DeploymentModel.SecretVariable(secret));

    private static string RequiredVariable(string variable) => "${" + variable + ":?set " + variable + ", see deploy/README.md}";

    private static string DataVolume(Resource resource) => resource.Name + "-data";

    private static string InitFolder(PostgresServerResource server) => server.Name + "-init";

    private static Map ClickHouse(ClickHouseResource clickhouse) => new()
    {
        ["image"] = ContainerSpecs.ClickHouseImage,
        ["environment"] = Yaml.Map(ContainerSpecs.ClickHouseEnvironment(clickhouse).Append(new("CLICKHOUSE_PASSWORD", RequiredVariable(clickhouse)))),
        // ClickHouse opens many files per part; the image's documentation asks for this limit.
        ["ulimits"] = new Map { ["nofile"] = new Map { ["soft"] = 262144, ["hard"] = 262144 } },
        ["volumes"] = new List<object> { $"{DataVolume(clickhouse)}:{ContainerSpecs.ClickHouseDataPath}" },
        ["healthcheck"] = HealthCheck($"wget -q --spider http://{clickhouse.Name}:{ContainerPorts.ClickHouseHttp}/ping || exit 1"),
        ["restart"] = "unless-stopped",
    };

    private static Map Postgres(PostgresServerResource postgres) => new()
    {
        ["image"] = ContainerSpecs.PostgresImage,
        ["command"] = new List<object> { "postgres" }.Concat(ContainerSpecs.PostgresArguments).ToList(),
        ["environment"] = new Map { ["POSTGRES_PASSWORD"] = RequiredVariable(postgres) },
        ["volumes"] = new List<object>
        {
            $"{DataVolume(postgres)}:{ContainerSpecs.PostgresDataPath}",
            $"./{InitFolder(postgres)}:{ContainerSpecs.PostgresInitPath}:ro",
        },
        // Over TCP, not the socket: during first-start initialisation the image runs a socket-only server that must not count as ready.
        ["healthcheck"] = HealthCheck($"pg_isready -h {postgres.Name} -p {ContainerPorts.Postgres} -U postgres"),
        ["restart"] = "unless-stopped",
    };

    private static Map Kafka(KafkaResource kafka) => new()
    {
        ["image"] = ContainerSpecs.KafkaImage,
        ["environment"] = Yaml.Map(ContainerSpecs.KafkaEnvironment(kafka.Name)),
        ["volumes"] = new List<object> { $"{DataVolume(kafka)}:{ContainerSpecs.KafkaDataPath}" },
        ["healthcheck"] = HealthCheck(
            $"/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server {kafka.Name}:{ContainerPorts.Kafka} > /dev/null 2>&1 || exit 1",
            timeout: "30s", startPeriod: "30s"),
        ["restart"] = "unless-stopped",
    };

    private static Map Project(DeploymentModel model, ProjectResource project, string buildContext) => new()
    {
        ["image"] = ContainerSpecs.ServiceImage(project),
        ["build"] = new Map
        {
            ["context"] = buildContext,
            ["dockerfile"] = ContainerSpecs.ServiceDockerfile,
            ["args"] = new Map { ["PROJECT"] = project.ProjectName },
        },
        ["environment"] = Yaml.Map(model.Environment(project, Variable, RequiredVariable)),
        // A host port the engine picks (docker compose port NAME 8080 tells which): fixed ports would collide with a local run.
        ["ports"] = new List<object> { DeploymentModel.ServicePort.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        ["healthcheck"] = HealthCheck($"curl -fsS {DeploymentModel.ServiceUrl(project)}/health > /dev/null || exit 1"),
        ["restart"] = "unless-stopped",
    };

    private static Map HealthCheck(string command, string timeout = "5s", string startPeriod = "10s") => new()
    {
        ["test"] = new List<object> { "CMD-SHELL", command },
        ["interval"] = "5s",
        ["timeout"] = timeout,
        ["retries"] = 30,
        ["start_period"] = startPeriod,
    };
}
