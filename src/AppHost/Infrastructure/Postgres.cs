using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using AppHost.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AppHost.Infrastructure;

/// <summary>PostgreSQL 15 run by the AppHost: Debian's server as the postgres user, with logical replication on.</summary>
public sealed class PostgresServerProcessResource(string name, string command, string workingDirectory, int port, string password)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public int Port { get; } = port;

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Password={password}");
}

/// <summary>A database on the AppHost's PostgreSQL, created once the server answers.</summary>
public sealed class PostgresProcessDatabaseResource(string name, PostgresServerProcessResource parent)
    : Resource(name), IResourceWithParent<PostgresServerProcessResource>, IResourceWithConnectionString
{
    public PostgresServerProcessResource Parent { get; } = parent;

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{Parent};Database={Name}");
}

/// <summary>The platform's PostgreSQL, whichever way it runs, and how to add a database to it.</summary>
public sealed class PlatformPostgres(IResourceBuilder<IResource>? server, Func<string, IResourceBuilder<IResourceWithConnectionString>> addDatabase)
{
    /// <summary>The server, when the AppHost runs or deploys one (null for an existing server).</summary>
    public IResourceBuilder<IResource>? Server { get; } = server;

    public IResourceBuilder<IResourceWithConnectionString> AddDatabase(string name) => addDatabase(name);
}

public static class PostgresBuilderExtensions
{
    public const int DefaultPort = 15432;

    /// <summary>The server settings the change feed needs, the same locally and in a deployment.</summary>
    public static readonly string[] ServerSettings =
        ["-c", "wal_level=logical", "-c", "max_wal_senders=16", "-c", "max_replication_slots=16"];

    private static readonly string[] AsPostgresUser = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"];

    // PostgreSQL's SIGTERM is a "smart" stop that waits for every client to hang up; SIGINT (fast) is what an orderly stop wants.
    private const string StopFast = """
        "$@" & child=$!
        trap 'kill -INT $child' TERM INT
        wait $child; status=$?
        while kill -0 $child 2>/dev/null; do wait $child; status=$?; done
        exit $status
        """;

    /// <summary>
    /// PostgreSQL: an existing server when <c>ConnectionStrings:NAME</c> is set (its databases are then
    /// <c>ConnectionStrings:DB</c> too), Aspire's container when publishing, otherwise a local server
    /// whose cluster lives in the state folder.
    /// </summary>
    public static PlatformPostgres AddPlatformPostgres(this IDistributedApplicationBuilder builder, string name, PlatformOptions options)
    {
        if (builder.ExecutionContext.IsPublishMode)
        {
            var container = builder.AddPostgres(name).WithArgs(ServerSettings).WithDataVolume($"{name}-data");
            return new PlatformPostgres(container, database => container.AddDatabase(database));
        }

        if (builder.Configuration.GetConnectionString(name) is { Length: > 0 })
        {
            return new PlatformPostgres(null, database => builder.AddConnectionString(database));
        }

        var directory = options.StateOf(name);
        var port = options.Port(DefaultPort);
        var password = options.Secret($"{name}-password");
        var binaries = FindBinaries();
        var data = DataDirectory(directory, options.Fresh);
        string[] serverArguments =
        [
            Path.Combine(binaries, "postgres"), "-D", data, "-p", port.ToString(CultureInfo.InvariantCulture),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "logging_collector=off", .. ServerSettings,
        ];
        var resource = new PostgresServerProcessResource(name, "/bin/sh", "/", port, password);
        var connectionString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = port, Username = "postgres", Password = password, Database = "postgres", Timeout = 5,
        }.ConnectionString;

        builder.Services.AddHealthChecks().AddAsyncCheck($"{name}-answers", ct => AnswersAsync(connectionString, ct));
        var server = builder.AddResource(resource)
            .WithArgs(["-c", StopFast, "postgres", .. IsRoot ? ["setpriv", .. AsPostgresUser] : Array.Empty<string>(), .. serverArguments])
            .WithEndpoint(port: port, targetPort: port, name: "tcp", scheme: "tcp", isProxied: false)
            .WithHealthCheck($"{name}-answers")
            .OnBeforeResourceStarted(async (_, e, ct) =>
            {
                var logger = e.Services.GetRequiredService<ResourceLoggerService>().GetLogger(resource);
                await InitialiseClusterAsync(logger, directory, data, binaries, password, ct);
                // A server an AppHost that was killed left on this data folder holds its lock; SIGINT is its fast stop.
                await ResourceProcess.StopLeftoversAsync(logger, $"-D {data} ", ResourceProcess.SigInt);
            });

        return new PlatformPostgres(server, database =>
        {
            var databaseConnection = new NpgsqlConnectionStringBuilder(connectionString) { Database = database }.ConnectionString;
            builder.Services.AddHealthChecks().AddAsyncCheck($"{database}-answers", ct => AnswersAsync(databaseConnection, ct));
            // Made once the server answers; CREATE only when missing, so a kept cluster keeps its data.
            return builder.AddResource(new PostgresProcessDatabaseResource(database, resource))
                .WithInitialState(new CustomResourceSnapshot { ResourceType = "PostgreSQL database", State = KnownResourceStates.NotStarted, Properties = [] })
                .WithHealthCheck($"{database}-answers")
                .OnInitializeResource(async (db, e, ct) =>
                {
                    try
                    {
                        // A child cannot WaitFor its parent; wait for the server here instead.
                        await e.Notifications.WaitForResourceHealthyAsync(resource.Name, ct);
                        await CreateDatabaseAsync(e.Logger, connectionString, database, ct);
                        await e.Notifications.PublishUpdateAsync(db, s => s with { State = KnownResourceStates.Running, StartTimeStamp = DateTime.UtcNow });
                    }
                    catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
                    {
                        e.Logger.LogError(ex, "Database {Database} could not be created.", database);
                        await e.Notifications.PublishUpdateAsync(db, s => s with { State = KnownResourceStates.FailedToStart });
                    }
                });
        });
    }

    private static async Task<HealthCheckResult> AnswersAsync(string connectionString, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SELECT 1", connection);
            return await command.ExecuteScalarAsync(cancellationToken) is 1 ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("SELECT 1 did not answer 1.");
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            return HealthCheckResult.Unhealthy(ex.Message);
        }
    }

    private static async Task CreateDatabaseAsync(ILogger logger, string connectionString, string database, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        {
            await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", connection) { Parameters = { new() { Value = database } } };
            if (await exists.ExecuteScalarAsync(cancellationToken) is null)
            {
                // Identifiers cannot be parameters; the name is the model's own constant, quoted anyway.
                await using var create = new NpgsqlCommand($"CREATE DATABASE \"{database.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", connection);
                await create.ExecuteNonQueryAsync(cancellationToken);
                logger.LogInformation("Created database {Database}.", database);
            }
        }
    }

    private static string FindBinaries()
    {
        const string root = "/usr/lib/postgresql";
        var bin = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "postgres")) && File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .FirstOrDefault()
            : null;
        return bin ?? throw new InvalidOperationException(
            "PostgreSQL is not installed. Install it with: sudo apt-get install -y postgresql (or run ./scripts/install-deps).");
    }

    /// <summary>
    /// The cluster lives in <c>STATE/postgres/data</c>, owned by the postgres user. When that user
    /// cannot reach the state folder (a checkout under /root, say), it lives in
    /// <c>/var/lib/platform-postgres/HASH</c> instead, named in <c>STATE/postgres/data-location</c>.
    /// </summary>
    private static string DataDirectory(string directory, bool fresh)
    {
        var data = Path.Combine(directory, "data");
        if (!IsRoot)
        {
            return data;
        }

        Run("chown", "postgres:postgres", directory);
        if (Run("setpriv", [.. AsPostgresUser, "test", "-w", directory]) == 0)
        {
            return data;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(directory)))[..16];
        data = Path.Combine("/var/lib/platform-postgres", hash);
        File.WriteAllText(Path.Combine(directory, "data-location"), data + "\n");
        if (fresh && Directory.Exists(data))
        {
            Directory.Delete(data, recursive: true);
        }

        Directory.CreateDirectory(data);
        Run("chown", "postgres:postgres", "/var/lib/platform-postgres", data);
        return data;
    }

    private static async Task InitialiseClusterAsync(ILogger logger, string directory, string data, string binaries, string password, CancellationToken cancellationToken)
    {
        if (File.Exists(Path.Combine(data, "PG_VERSION")))
        {
            return;
        }

        logger.LogInformation("Initialising a new cluster in {Data}", data);
        Directory.CreateDirectory(data);
        // Beside the data folder, which the postgres user can always read (the state folder may not be).
        var passwordFile = data.TrimEnd('/') + ".initdb-password";
        await File.WriteAllTextAsync(passwordFile, password, cancellationToken);
        File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            string[] initdb = [Path.Combine(binaries, "initdb"), "-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8",
                "--auth-host=scram-sha-256", "--auth-local=peer", $"--pwfile={passwordFile}"];
            if (IsRoot)
            {
                Run("chown", "postgres:postgres", directory, data, passwordFile);
                initdb = ["setpriv", .. AsPostgresUser, .. initdb];
            }

            var (code, output) = await RunAsync(initdb, cancellationToken);
            logger.LogInformation("{Output}", output);
            if (code != 0)
            {
                throw new InvalidOperationException($"initdb exited with code {code}: {output}");
            }
        }
        finally
        {
            File.Delete(passwordFile);
        }
    }

    private static bool IsRoot => geteuid() == 0;

    private static int Run(string program, params string[] arguments) => RunAsync([program, .. arguments], CancellationToken.None).GetAwaiter().GetResult().Code;

    private static async Task<(int Code, string Output)> RunAsync(string[] command, CancellationToken cancellationToken)
    {
        // "/" because the postgres user may not be allowed into the AppHost's own working folder.
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var argument in command.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, ((await output) + (await error)).Trim());
    }

    [DllImport("libc", SetLastError = true)]
    private static extern uint geteuid();
}
