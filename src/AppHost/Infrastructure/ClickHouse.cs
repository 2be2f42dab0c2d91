using System.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using AppHost.Lifecycle;
using Platform.ClickHouse;

namespace AppHost.Infrastructure;

/// <summary>ClickHouse run by the AppHost: Debian's clickhouse-server (18.16) with a config generated into the state folder.</summary>
public sealed class ClickHouseServerResource(string name, string stateDirectory, string database)
    : ExecutableResource(name, File.Exists("/usr/bin/clickhouse-server") ? "/usr/bin/clickhouse-server" : "/usr/sbin/clickhouse-server", stateDirectory), IResourceWithConnectionString
{
    public string Database { get; } = database;

    public EndpointReference Http => new(this, "http");

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"Endpoint=http://127.0.0.1:{Http.Property(EndpointProperty.Port)};Username=default;Password=;Database={Database}");
}

/// <summary>ClickHouse in a deployment: the official image, a current release, with a password of the deployment's own.</summary>
public sealed class ClickHouseContainerResource(string name, string database, ParameterResource password)
    : ContainerResource(name), IResourceWithConnectionString
{
    public const string User = "platform";

    public string Database { get; } = database;

    public ParameterResource Password { get; } = password;

    public EndpointReference Http => new(this, "http");

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"Endpoint={Http.Property(EndpointProperty.Url)};Username={User};Password={Password};Database={Database}");
}

public static class ClickHouseBuilderExtensions
{
    public const int DefaultHttpPort = 18123;
    public const int DefaultTcpPort = 19000;

    // Production runs a current ClickHouse; the SQL the project ships also runs on the local 18.16 server.
    private const string Image = "clickhouse/clickhouse-server";
    private const string ImageTag = "25.8";

    /// <summary>
    /// ClickHouse: an existing server when <c>ConnectionStrings:NAME</c> is set, a container when
    /// publishing, otherwise a local clickhouse-server process.
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddClickHouse(this IDistributedApplicationBuilder builder, string name, string database, PlatformOptions options)
    {
        if (builder.ExecutionContext.IsPublishMode)
        {
            var password = builder.AddParameter($"{name}-password", secret: true);
            return builder.AddResource(new ClickHouseContainerResource(name, database, password.Resource))
                .WithImage(Image, ImageTag)
                .WithHttpEndpoint(targetPort: 8123, name: "http")
                .WithEnvironment("CLICKHOUSE_DB", database)
                .WithEnvironment("CLICKHOUSE_USER", ClickHouseContainerResource.User)
                .WithEnvironment("CLICKHOUSE_PASSWORD", password)
                .WithVolume($"{name}-data", "/var/lib/clickhouse");
        }

        if (builder.Configuration.GetConnectionString(name) is { Length: > 0 })
        {
            return builder.AddConnectionString(name);
        }

        if (!File.Exists("/usr/bin/clickhouse-server") && !File.Exists("/usr/sbin/clickhouse-server"))
        {
            throw new InvalidOperationException("ClickHouse is not installed. Install it with: sudo apt-get install -y clickhouse-server (or run ./scripts/install-deps).");
        }

        var directory = options.StateOf(name);
        int httpPort = options.Port(DefaultHttpPort), tcpPort = options.Port(DefaultTcpPort);
        var settings = new ClickHouseConnectionSettings(new Uri($"http://127.0.0.1:{httpPort}/"), "default", "", database);
        var healthCheck = $"{name}-answers";
        builder.Services.AddHealthChecks().AddAsyncCheck(healthCheck, async cancellationToken =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            var client = new ClickHouseClient(http, settings);
            try
            {
                return await client.QueryScalarAsync("SELECT 1", new ClickHouseQueryOptions { UseDefaultDatabase = false }, cancellationToken) == "1"
                    ? HealthCheckResult.Healthy()
                    : HealthCheckResult.Unhealthy("SELECT 1 did not answer 1.");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or ClickHouseServerException)
            {
                return HealthCheckResult.Unhealthy(ex.Message);
            }
        });

        return builder.AddResource(new ClickHouseServerResource(name, directory, database))
            .WithArgs($"--config-file={Path.Combine(directory, "config.xml")}")
            .WithHttpEndpoint(port: httpPort, targetPort: httpPort, name: "http", isProxied: false)
            .WithEndpoint(port: tcpPort, targetPort: tcpPort, name: "tcp", scheme: "tcp", isProxied: false)
            .WithHealthCheck(healthCheck)
            .OnBeforeResourceStarted(async (resource, e, _) =>
            {
                WriteConfig(directory, Path.Combine(options.LogDirectory, $"{name}-server.log"), httpPort, tcpPort);
                // A server an AppHost that was killed left on this data folder would refuse the new one.
                var logger = e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(resource);
                await ResourceProcess.StopLeftoversAsync(logger, $"--config-file={Path.Combine(directory, "config.xml")}", ResourceProcess.SigTerm);
            });
    }

    private static void WriteConfig(string directory, string serverLog, int httpPort, int tcpPort)
    {
        foreach (var sub in new[] { "data", "tmp", "user_files", "format_schemas" })
        {
            Directory.CreateDirectory(Path.Combine(directory, sub));
        }

        static string Xml(string path) => SecurityElement.Escape(path);
        var config = $"""
            <?xml version="1.0"?>
            <!-- Generated by the AppHost on every start; edit src/AppHost/Infrastructure/ClickHouse.cs instead. -->
            <yandex>
                <logger>
                    <level>warning</level>
                    <log>{Xml(serverLog)}</log>
                    <errorlog>{Xml(serverLog)}.err</errorlog>
                    <size>100M</size>
                    <count>2</count>
                </logger>
                <http_port>{httpPort}</http_port>
                <tcp_port>{tcpPort}</tcp_port>
                <listen_host>127.0.0.1</listen_host>
                <path>{Xml(Path.Combine(directory, "data"))}/</path>
                <tmp_path>{Xml(Path.Combine(directory, "tmp"))}/</tmp_path>
                <user_files_path>{Xml(Path.Combine(directory, "user_files"))}/</user_files_path>
                <format_schema_path>{Xml(Path.Combine(directory, "format_schemas"))}/</format_schema_path>
                <users_config>users.xml</users_config>
                <default_profile>default</default_profile>
                <default_database>default</default_database>
                <timezone>UTC</timezone>
                <mark_cache_size>268435456</mark_cache_size>
                <max_concurrent_queries>100</max_concurrent_queries>
                <max_connections>1024</max_connections>
                <keep_alive_timeout>10</keep_alive_timeout>
            </yandex>
            """;
        const string users = """
            <?xml version="1.0"?>
            <yandex>
                <profiles>
                    <default>
                        <max_memory_usage>4000000000</max_memory_usage>
                        <load_balancing>random</load_balancing>
                    </default>
                    <readonly>
                        <readonly>1</readonly>
                    </readonly>
                </profiles>
                <users>
                    <default>
                        <password></password>
                        <networks>
                            <ip>127.0.0.1</ip>
                            <ip>::1</ip>
                        </networks>
                        <profile>default</profile>
                        <quota>default</quota>
                    </default>
                </users>
                <quotas>
                    <default>
                        <interval>
                            <duration>3600</duration>
                            <queries>0</queries>
                            <errors>0</errors>
                            <result_rows>0</result_rows>
                            <read_rows>0</read_rows>
                            <execution_time>0</execution_time>
                        </interval>
                    </default>
                </quotas>
            </yandex>
            """;
        File.WriteAllText(Path.Combine(directory, "config.xml"), config);
        File.WriteAllText(Path.Combine(directory, "users.xml"), users);
    }
}
