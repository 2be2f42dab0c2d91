using AppHost.Hosting;

namespace AppHost.Publishing;

/// <summary>
/// The application model as containers see it: every resource is reached by its own name as a host
/// (a compose service or a Kubernetes Service), services listen on <see cref="ServicePort"/>, and the
/// references and waits of <see cref="PlatformModel"/> become environment variables and start order.
/// Both publishers read the model only through this class, so they cannot disagree on the wiring.
/// </summary>
public sealed class DeploymentModel
{
    /// <summary>What every service listens on inside its container (the aspnet image's default).</summary>
    public const int ServicePort = 8080;

    private DeploymentModel(IReadOnlyList<Resource> resources)
    {
        Resources = resources;
    }

    /// <summary>The resources that become containers, in declaration order (databases live inside their server; local tasks are skipped).</summary>
    public IEnumerable<Resource> Containers => Resources.Where(r => Kind(r) is ResourceKind.Container or ResourceKind.Project);

    /// <summary>Servers that need a password: each gets one secret, named after it.</summary>
    public IEnumerable<Resource> PasswordProtected => Resources.Where(r => r is ClickHouseResource or PostgresServerResource);

    public IEnumerable<ProjectResource> Projects => Resources.OfType<ProjectResource>();

    private IReadOnlyList<Resource> Resources { get; }

    /// <summary>Maps every resource of the model, so a resource type publishing does not know fails here, not in production.</summary>
    public static DeploymentModel From(IReadOnlyList<Resource> resources)
    {
        foreach (var resource in resources)
        {
            _ = Kind(resource);
        }

        return new DeploymentModel(resources);
    }

    public IEnumerable<PostgresDatabaseResource> DatabasesOf(PostgresServerResource server) =>
        Resources.OfType<PostgresDatabaseResource>().Where(d => d.Server == server);

    /// <summary>
    /// The containers <paramref name="resource"/> must wait for: a database is ready when its server is
    /// (the server creates it on first start), and local tasks such as demo data do not exist in a deployment.
    /// </summary>
    public IReadOnlyList<Resource> WaitsFor(Resource resource) =>
        resource.WaitsFor.Select(ContainerOf).OfType<Resource>().Distinct().ToList();

    /// <summary>
    /// A service's environment: its URL and telemetry name, one entry per reference in .NET Aspire's
    /// key shapes, pointing at container host names, then its secrets. <paramref name="password"/> and
    /// <paramref name="secret"/> say how a deployment spells a server's password or a service's secret
    /// without containing it (an interpolated variable, a placeholder).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> Environment(ProjectResource project, Func<Resource, string> password, Func<ProjectSecret, string> secret)
    {
        var environment = new List<KeyValuePair<string, string>>
        {
            new("ASPNETCORE_URLS", $"http://+:{ServicePort}"),
            new("OTEL_SERVICE_NAME", project.Name),
        };
        foreach (var reference in project.References.Distinct())
        {
            if (ReferenceEnvironment(reference, password) is { } entry && environment.All(e => e.Key != entry.Key))
            {
                environment.Add(entry);
            }
        }

        environment.AddRange(project.Secrets.Select(s => new KeyValuePair<string, string>(s.EnvironmentKey, secret(s))));
        return environment;
    }

    /// <summary>The connection string a container reaches <paramref name="resource"/> with, or null when it has none.</summary>
    public static string? ConnectionString(Resource resource, Func<Resource, string> password) => resource switch
    {
        ClickHouseResource clickhouse =>
            $"Endpoint=http://{clickhouse.Name}:{ContainerPorts.ClickHouseHttp};Username=default;Password={password(clickhouse)};Database={clickhouse.Database}",
        PostgresServerResource server => Npgsql(server, password, database: null),
        PostgresDatabaseResource database => Npgsql(database.Server, password, database.Name),
        KafkaResource kafka => $"{kafka.Name}:{ContainerPorts.Kafka}",
        _ => null,
    };

    /// <summary>The environment variable a deployment passes a server's password in, e.g. <c>POSTGRES_PASSWORD</c>.</summary>
    public static string PasswordVariable(Resource server) =>
        server.Name.ToUpperInvariant().Replace('-', '_') + "_PASSWORD";

    /// <summary>The key a server's password has in a secret store, e.g. <c>postgres-password</c>.</summary>
    public static string PasswordKey(Resource server) => server.Name + "-password";

    /// <summary>Every service secret once (two services handed the same secret share it).</summary>
    public IEnumerable<ProjectSecret> Secrets => Projects.SelectMany(p => p.Secrets).DistinctBy(s => s.Name);

    /// <summary>The environment variable a deployment passes a service secret in, e.g. <c>ADMIN_TOKEN</c>.</summary>
    public static string SecretVariable(ProjectSecret secret) => secret.Name.ToUpperInvariant().Replace('-', '_');

    public static string ServiceUrl(ProjectResource project) => $"http://{project.Name}:{ServicePort}";

    private static KeyValuePair<string, string>? ReferenceEnvironment(Resource reference, Func<Resource, string> password) => reference switch
    {
        ProjectResource project => new($"services__{project.Name}__http__0", ServiceUrl(project)),
        _ when ConnectionString(reference, password) is { } connectionString => new($"ConnectionStrings__{reference.Name}", connectionString),
        _ => null,
    };

    private static string Npgsql(PostgresServerResource server, Func<Resource, string> password, string? database) =>
        $"Host={server.Name};Port={ContainerPorts.Postgres};Username=postgres;Password={password(server)}" + (database is null ? "" : $";Database={database}");

    private static Resource? ContainerOf(Resource resource) => resource switch
    {
        PostgresDatabaseResource database => database.Server,
        _ when Kind(resource) == ResourceKind.LocalOnly => null,
        _ => resource,
    };

    private static ResourceKind Kind(Resource resource) => resource switch
    {
        ClickHouseResource or PostgresServerResource or KafkaResource => ResourceKind.Container,
        ProjectResource => ResourceKind.Project,
        PostgresDatabaseResource => ResourceKind.InsideServer,
        DemoDataResource or ProductSchemaResource or DemoWriterResource => ResourceKind.LocalOnly,
        _ => throw new NotSupportedException(
            $"Publishing does not know how to deploy '{resource.Name}' ({resource.GetType().Name}); map it in src/AppHost/Publishing."),
    };

    private enum ResourceKind
    {
        Container,
        Project,
        InsideServer,
        LocalOnly,
    }
}

/// <summary>The ports the infrastructure images listen on inside the container network.</summary>
public static class ContainerPorts
{
    public const int ClickHouseHttp = 8123;
    public const int ClickHouseNative = 9000;
    public const int Postgres = 5432;
    public const int Kafka = 9092;
    public const int KafkaController = 9093;
}
