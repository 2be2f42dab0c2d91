using AppHost.Hosting;
using AppHost.Publishing;
using Npgsql;
using Platform.ClickHouse;
using YamlDotNet.RepresentationModel;

namespace AppHost.Tests.Publishing;

public class ComposePublisherTests
{
    private readonly DistributedApplicationBuilder _model = Published.Model();

    private YamlMappingNode Services => Published.Compose(_model).Map("services");

    [Fact]
    public void EveryProjectIsAServiceBuiltFromTheSharedDockerfile()
    {
        var projects = _model.Resources.OfType<ProjectResource>().ToList();
        Assert.NotEmpty(projects);
        foreach (var project in projects)
        {
            var build = Services.Map(project.Name).Map("build");
            Assert.Equal(project.ProjectName, build.Map("args").Text("PROJECT"));
            Assert.Equal("deploy/Dockerfile", build.Text("dockerfile"));

            // The context is relative to the compose file's folder and must be the repository root holding the Dockerfile.
            var context = Path.GetFullPath(Path.Combine(PublishCommand.DefaultOutput, build.Text("context")));
            Assert.Equal(Path.GetFullPath(BuildInfo.RepositoryRoot).TrimEnd('/'), context.TrimEnd('/'));
            Assert.True(File.Exists(Path.Combine(context, build.Text("dockerfile"))));
            Assert.True(Directory.Exists(Path.Combine(context, "src", project.ProjectName)), $"src/{project.ProjectName} does not exist");
        }
    }

    [Fact]
    public void OnlyContainersBecomeServices()
    {
        var expected = _model.Resources
            .Where(r => r is ClickHouseResource or PostgresServerResource or KafkaResource or ProjectResource)
            .Select(r => r.Name);
        Assert.Equal(expected.Order(), Services.Keys().Order());
    }

    [Fact]
    public void EachServiceGetsExactlyTheConnectionKeysItsReferencesImply()
    {
        foreach (var project in _model.Resources.OfType<ProjectResource>())
        {
            var environment = Services.Map(project.Name).Map("environment").Strings();
            Assert.Equal(Published.ExpectedReferenceKeys(project).Order(), environment.Keys.Where(Published.IsReferenceKey).Order());
            Assert.Equal("http://+:8080", environment["ASPNETCORE_URLS"]);
            Assert.Equal(project.Name, environment["OTEL_SERVICE_NAME"]);
        }
    }

    [Fact]
    public void ConnectionStringsPointAtContainerHostNames()
    {
        foreach (var project in _model.Resources.OfType<ProjectResource>())
        {
            var environment = Services.Map(project.Name).Map("environment").Strings();
            foreach (var reference in project.References)
            {
                switch (reference)
                {
                    case ClickHouseResource clickhouse:
                        var settings = ClickHouseConnectionSettings.Parse(environment[$"ConnectionStrings__{clickhouse.Name}"]);
                        Assert.Equal(new Uri($"http://{clickhouse.Name}:8123/"), settings.Endpoint);
                        Assert.Equal(clickhouse.Database, settings.Database);
                        Assert.Equal("${CLICKHOUSE_PASSWORD}", settings.Password);
                        break;
                    case PostgresDatabaseResource database:
                        var npgsql = new NpgsqlConnectionStringBuilder(environment[$"ConnectionStrings__{database.Name}"]);
                        Assert.Equal(database.Server.Name, npgsql.Host);
                        Assert.Equal(5432, npgsql.Port);
                        Assert.Equal(database.Name, npgsql.Database);
                        Assert.Equal("${POSTGRES_PASSWORD}", npgsql.Password);
                        break;
                    case KafkaResource kafka:
                        Assert.Equal($"{kafka.Name}:9092", environment[$"ConnectionStrings__{kafka.Name}"]);
                        break;
                    case ProjectResource service:
                        Assert.Equal($"http://{service.Name}:8080", environment[$"services__{service.Name}__http__0"]);
                        Assert.True(Services.Has(service.Name), $"{project.Name} references {service.Name}, which is not a compose service");
                        break;
                    default:
                        Assert.Fail($"{project.Name} references {reference.Name} ({reference.GetType().Name}), which this test does not know.");
                        break;
                }
            }
        }
    }

    [Fact]
    public void ServiceSecretsAreRequiredVariablesNeverValues()
    {
        // The secrets the AppHost generates locally; a deployment without them has no admin path and no token sign-in.
        var expected = new Dictionary<string, (string Key, string Variable)>
        {
            ["collector"] = ("Collector__AdminToken", "ADMIN_TOKEN"),
            ["api"] = ("Api__Jwt__SigningKey", "JWT_SIGNING_KEY"),
        };
        foreach (var (service, (key, variable)) in expected)
        {
            var environment = Services.Map(service).Map("environment").Strings();
            Assert.Equal($"${{{variable}:?set {variable}, see deploy/README.md}}", environment[key]);
        }

        foreach (var project in _model.Resources.OfType<ProjectResource>().Where(p => !expected.ContainsKey(p.Name)))
        {
            var environment = Services.Map(project.Name).Map("environment").Strings();
            Assert.DoesNotContain(environment.Keys, k => k is "Collector__AdminToken" or "Api__Jwt__SigningKey");
        }

        var usage = Published.Files(_model)[ComposePublisher.FileName].Split('\n')[1];
        Assert.Contains("ADMIN_TOKEN=... JWT_SIGNING_KEY=...", usage);
    }

    [Fact]
    public void DependsOnMirrorsWaitForAndWaitsUntilHealthy()
    {
        foreach (var resource in _model.Resources.Where(r => Services.Has(r.Name)))
        {
            var service = Services.Map(resource.Name);
            var expected = Published.ExpectedWaits(resource);
            if (expected.Count == 0)
            {
                Assert.False(service.Has("depends_on"), $"{resource.Name} waits for nothing but has depends_on");
                continue;
            }

            var dependsOn = service.Map("depends_on");
            Assert.Equal(expected.Order(), dependsOn.Keys().Order());
            foreach (var dependency in dependsOn.Keys())
            {
                Assert.Equal("service_healthy", dependsOn.Map(dependency).Text("condition"));
                // service_healthy on a service without a health check never becomes true.
                Assert.True(Services.Map(dependency).Has("healthcheck"), $"{dependency} has no health check");
            }
        }
    }

    [Fact]
    public void EveryContainerHasAHealthCheckOnItsOwnEndpoint()
    {
        foreach (var resource in _model.Resources.Where(r => Services.Has(r.Name)))
        {
            var test = Services.Map(resource.Name).Map("healthcheck").Sequence("test").Select(n => ((YamlScalarNode)n).Value).ToList();
            Assert.Equal("CMD-SHELL", test[0]);
            var expected = resource switch
            {
                ProjectResource => $"http://{resource.Name}:8080/health",
                ClickHouseResource => $"http://{resource.Name}:8123/ping",
                PostgresServerResource => $"pg_isready -h {resource.Name}",
                KafkaResource => $"--bootstrap-server {resource.Name}:9092",
                _ => throw new InvalidOperationException(resource.Name),
            };
            Assert.Contains(expected, test[1], StringComparison.Ordinal);
        }
    }

    [Fact]
    public void PostgresRunsWithLogicalReplicationAndCreatesEveryDatabase()
    {
        var files = Published.Files(_model);
        foreach (var server in _model.Resources.OfType<PostgresServerResource>())
        {
            var service = Services.Map(server.Name);
            Assert.Equal("postgres:15", service.Text("image"));
            Assert.Contains("wal_level=logical", service.Sequence("command").Select(n => ((YamlScalarNode)n).Value));
            Assert.StartsWith("${POSTGRES_PASSWORD:?", service.Map("environment").Text("POSTGRES_PASSWORD"), StringComparison.Ordinal);

            // The init folder is mounted where the image runs it, and creates each of this server's databases.
            var mount = Assert.Single(service.Sequence("volumes").Select(n => ((YamlScalarNode)n).Value!), v => v.Contains("/docker-entrypoint-initdb.d", StringComparison.Ordinal));
            var folder = mount.Split(':')[0].TrimStart('.', '/');
            var sql = Assert.Single(files, f => f.Key.StartsWith(folder + "/", StringComparison.Ordinal) && f.Key.EndsWith(".sql", StringComparison.Ordinal)).Value;
            var databases = _model.Resources.OfType<PostgresDatabaseResource>().Where(d => d.Server == server).ToList();
            Assert.NotEmpty(databases);
            foreach (var database in databases)
            {
                Assert.Contains($"CREATE DATABASE \"{database.Name}\";", sql, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void ClickHouseAndKafkaAreTheProductionServers()
    {
        var clickhouse = _model.Resources.OfType<ClickHouseResource>().Single();
        var service = Services.Map(clickhouse.Name);
        Assert.StartsWith("clickhouse/clickhouse-server:", service.Text("image"), StringComparison.Ordinal);
        Assert.Equal(clickhouse.Database, service.Map("environment").Text("CLICKHOUSE_DB"));
        Assert.StartsWith("${CLICKHOUSE_PASSWORD:?", service.Map("environment").Text("CLICKHOUSE_PASSWORD"), StringComparison.Ordinal);

        var kafka = _model.Resources.OfType<KafkaResource>().Single();
        var broker = Services.Map(kafka.Name);
        Assert.StartsWith("apache/kafka:", broker.Text("image"), StringComparison.Ordinal);
        Assert.Equal("broker,controller", broker.Map("environment").Text("KAFKA_PROCESS_ROLES"));
        Assert.Equal($"PLAINTEXT://{kafka.Name}:9092", broker.Map("environment").Text("KAFKA_ADVERTISED_LISTENERS"));
    }
}
