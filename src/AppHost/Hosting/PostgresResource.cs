using System.Diagnostics;
using System.Security.Cryptography;
using Npgsql;

namespace AppHost.Hosting;

/// <summary>
/// PostgreSQL 15 as a local process: <c>initdb</c> once, then <c>postgres</c> with logical replication
/// on, run as the <c>postgres</c> user (the server refuses root). Or an existing server named by
/// <c>ConnectionStrings:postgres</c>.
/// </summary>
public sealed class PostgresServerResource(string name) : Resource(name)
{
    public const int DefaultPort = 15432;

    private ChildProcess? _process;
    private string? _connectionString;
    private int _port;

    public override string? ConnectionString => _connectionString;

    /// <summary>Where the cluster's files are (for a server the AppHost runs).</summary>
    public string? DataDirectory { get; private set; }

    public override string? Display => _connectionString is null ? null : $"postgres://127.0.0.1:{_port} (user postgres)";

    public override void AllocatePorts(ResourceContext context)
    {
        if (context.Configuration.GetConnectionString(Name) is { Length: > 0 } external)
        {
            IsExternal = true;
            _connectionString = external;
            return;
        }

        _port = context.Ports.Allocate(DefaultPort);
    }

    public override async Task StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (!IsExternal)
        {
            var binaries = FindBinaries();
            var directory = context.StateDirectory(Name);
            var password = ReadOrCreatePassword(directory);
            _connectionString = new NpgsqlConnectionStringBuilder
            {
                Host = "127.0.0.1", Port = _port, Username = "postgres", Password = password, Database = "postgres",
            }.ConnectionString;

            var data = DataDirectory = await PrepareDataDirectoryAsync(context, directory, binaries, password, cancellationToken);
            await StopLeftoverServerAsync(context, data);
            string[] serverArguments =
            [
                "-D", data, "-p", _port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "-c", "listen_addresses=127.0.0.1",
                "-c", "unix_socket_directories=",
                "-c", "wal_level=logical",
                "-c", "max_wal_senders=16",
                "-c", "max_replication_slots=16",
                "-c", "logging_collector=off",
            ];
            _process = ChildProcess.Start(Name, AsPostgresUser(Path.Combine(binaries, "postgres"), serverArguments, directory) with { StopSignal = Posix.SigInt },
                context.Logs, context.Processes);
        }

        await Probe.UntilHealthyAsync(Name, _process, async ct =>
        {
            await using var connection = new NpgsqlConnection(_connectionString);
            await connection.OpenAsync(ct);
            await using var command = new NpgsqlCommand("SELECT 1", connection);
            return await command.ExecuteScalarAsync(ct) is 1;
        }, cancellationToken);
    }

    public override async Task StopAsync(ResourceContext context)
    {
        NpgsqlConnection.ClearAllPools();
        if (_process is not null)
        {
            await _process.StopAsync(context.Options.StopGracePeriod);
        }
    }

    private static string FindBinaries()
    {
        var root = "/usr/lib/postgresql";
        var bin = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "postgres")) && File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .FirstOrDefault()
            : null;
        return bin ?? throw new MissingDependencyException(
            "PostgreSQL is not installed. Install it with: sudo apt-get install -y postgresql (or run ./scripts/install-deps).");
    }

    private static string ReadOrCreatePassword(string directory)
    {
        var file = Path.Combine(directory, "password");
        if (!File.Exists(file))
        {
            File.WriteAllText(file, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return File.ReadAllText(file).Trim();
    }

    /// <summary>
    /// The data folder is <c>STATE/postgres/data</c>, owned by the postgres user. When that user
    /// cannot reach the state folder (a checkout under /root, say), the data lives in
    /// <c>/var/lib/platform-postgres/HASH</c> instead, named in <c>STATE/postgres/data-location</c>.
    /// </summary>
    private async Task<string> PrepareDataDirectoryAsync(ResourceContext context, string directory, string binaries, string password, CancellationToken cancellationToken)
    {
        var data = Path.Combine(directory, "data");
        if (PosixUser.IsRoot)
        {
            await RunAsync(context, "chown", ["postgres:postgres", directory], cancellationToken);
            if (await RunAsync(context, "setpriv", [.. PostgresUserPrefix, "test", "-w", directory], cancellationToken, throwOnError: false) != 0)
            {
                var hash = Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(directory)))[..16];
                data = Path.Combine("/var/lib/platform-postgres", hash);
                File.WriteAllText(Path.Combine(directory, "data-location"), data + "\n");
                if (context.Options.Fresh && Directory.Exists(data))
                {
                    Directory.Delete(data, recursive: true);
                }

                Directory.CreateDirectory(data);
                await RunAsync(context, "chown", ["postgres:postgres", "/var/lib/platform-postgres", data], cancellationToken);
            }
        }

        if (File.Exists(Path.Combine(data, "PG_VERSION")))
        {
            return data;
        }

        context.Log(Name, $"Initialising a new cluster in {data}");
        // Beside the data folder, which the postgres user can always read (the state folder may not be).
        var passwordFile = data.TrimEnd('/') + ".initdb-password";
        await File.WriteAllTextAsync(passwordFile, password, cancellationToken);
        File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            if (PosixUser.IsRoot)
            {
                await RunAsync(context, "chown", ["postgres:postgres", passwordFile], cancellationToken);
            }

            var initdb = AsPostgresUser(Path.Combine(binaries, "initdb"),
                ["-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--auth-host=scram-sha-256", "--auth-local=peer", $"--pwfile={passwordFile}"],
                directory);
            await RunAsync(context, initdb.FileName, initdb.Arguments, cancellationToken);
        }
        finally
        {
            File.Delete(passwordFile);
        }

        return data;
    }

    /// <summary>A server a crashed run left on this data folder holds its lock; stop it first.</summary>
    private async Task StopLeftoverServerAsync(ResourceContext context, string data)
    {
        var pidFile = Path.Combine(data, "postmaster.pid");
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid)
            || !Posix.IsAlive(pid) || !Posix.CommandLine(pid).Contains("postgres", StringComparison.Ordinal))
        {
            return;
        }

        context.Log(Name, $"Stopping a PostgreSQL server (pid {pid}) left running on {data} by an earlier run.");
        Posix.Signal(pid, Posix.SigInt);
        if (!await Posix.WaitForExitAsync(pid, TimeSpan.FromSeconds(20)))
        {
            Posix.Signal(pid, Posix.SigKill);
            await Posix.WaitForExitAsync(pid, TimeSpan.FromSeconds(5));
        }
    }

    private static readonly string[] PostgresUserPrefix = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"];

    /// <summary><c>setpriv</c> execs the program in place, so the recorded PID is the server's own.</summary>
    private static ProcessSpec AsPostgresUser(string program, IReadOnlyList<string> arguments, string workingDirectory) =>
        PosixUser.IsRoot
            ? new ProcessSpec("setpriv", [.. PostgresUserPrefix, program, .. arguments], workingDirectory)
            : new ProcessSpec(program, arguments, workingDirectory);

    private async Task<int> RunAsync(ResourceContext context, string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken, bool throwOnError = true)
    {
        // "/" because the postgres user may not be allowed into the AppHost's own working folder.
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        foreach (var line in ((await output) + (await error)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            context.Log(Name, line);
        }

        if (throwOnError && process.ExitCode != 0)
        {
            throw new ResourceFailedException(Name, $"{Path.GetFileName(program)} {string.Join(' ', arguments)} exited with code {process.ExitCode}.");
        }

        return process.ExitCode;
    }
}

/// <summary>A database on a PostgreSQL server, created when missing.</summary>
public sealed class PostgresDatabaseResource(string name, PostgresServerResource server) : Resource(name)
{
    public PostgresServerResource Server { get; } = server;

    public override string? ConnectionString => Server.ConnectionString is { } serverConnection
        ? new NpgsqlConnectionStringBuilder(serverConnection) { Database = Name }.ConnectionString
        : null;

    public override string? Display => Server.ConnectionString is null ? null : $"database {Name} on {Server.Name}";

    public override TimeSpan StartTimeout => TimeSpan.FromSeconds(30);

    public override async Task StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        IsExternal = Server.IsExternal;
        await using var connection = new NpgsqlConnection(Server.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", connection) { Parameters = { new() { Value = Name } } };
        if (await exists.ExecuteScalarAsync(cancellationToken) is null)
        {
            // Identifiers cannot be parameters; the name is the model's own constant, quoted anyway.
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{Name.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
            context.Log(Server.Name, $"Created database {Name}.");
        }
    }
}
