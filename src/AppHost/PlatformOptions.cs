using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace AppHost;

/// <summary>
/// How this run of the platform behaves, from the <c>Platform</c> configuration section (the command
/// line's <c>--state DIR</c>, <c>--fresh</c> and <c>--no-demo</c> are shorthands for it).
/// </summary>
public sealed class PlatformOptions
{
    public const string Section = "Platform";

    /// <summary>Data, generated configs and secrets, logs and <c>endpoints.json</c>.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>Delete the state folder before starting.</summary>
    public bool Fresh { get; init; }

    /// <summary>Create the demo tenant, its keys, a day of demo events and the demo product's changes.</summary>
    public bool Demo { get; init; } = true;

    /// <summary>Use the well-known ports when free (people); false picks free ports only (tests, parallel runs).</summary>
    public bool FixedPorts { get; init; } = true;

    /// <summary>How long an orderly stop waits for the Ingestor to drain the dev broker.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public string EndpointsFile => Path.Combine(StateDirectory, "endpoints.json");

    public string LogDirectory => Path.Combine(StateDirectory, "logs");

    /// <summary>The demo tenant's keys: only hashes are stored server-side, so the AppHost keeps them.</summary>
    public string DemoCredentialsFile => Path.Combine(StateDirectory, "demo.json");

    private readonly HashSet<int> _ports = [];

    /// <summary>Maps the command line's shorthands onto configuration keys, which Aspire's builder reads.</summary>
    public static string[] ExpandArguments(string[] args)
    {
        var expanded = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--state" when i + 1 < args.Length:
                    expanded.Add($"--{Section}:StateDirectory={args[++i]}");
                    break;
                case "--fresh":
                    expanded.Add($"--{Section}:Fresh=true");
                    break;
                case "--no-demo":
                    expanded.Add($"--{Section}:Demo=false");
                    break;
                default:
                    expanded.Add(args[i]);
                    break;
            }
        }

        return [.. expanded];
    }

    public static PlatformOptions From(IDistributedApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(Section);
        var state = section["StateDirectory"] is { Length: > 0 } configured
            ? configured
            : Path.Combine(builder.AppHostDirectory, "..", "..", ".platform");
        return new PlatformOptions
        {
            StateDirectory = Path.GetFullPath(state),
            Fresh = section.GetValue("Fresh", false),
            Demo = section.GetValue("Demo", true),
            FixedPorts = section.GetValue("FixedPorts", true),
            DrainTimeout = section.GetValue("DrainTimeout", TimeSpan.FromSeconds(30)),
        };
    }

    /// <summary>Empties the state folder (with <see cref="Fresh"/>) and creates it; run mode only.</summary>
    public void PrepareStateDirectory()
    {
        if (Fresh && Directory.Exists(StateDirectory))
        {
            Directory.Delete(StateDirectory, recursive: true);
        }

        Directory.CreateDirectory(StateDirectory);
        Directory.CreateDirectory(LogDirectory);
    }

    public string StateOf(string resource) => Directory.CreateDirectory(Path.Combine(StateDirectory, resource)).FullName;

    /// <summary>A generated secret kept in <c>STATE/secrets/NAME</c>, so keys, tokens and passwords survive restarts.</summary>
    public string Secret(string name)
    {
        var file = Path.Combine(Directory.CreateDirectory(Path.Combine(StateDirectory, "secrets")).FullName, name);
        if (!File.Exists(file))
        {
            File.WriteAllText(file, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)));
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return File.ReadAllText(file).Trim();
    }

    /// <summary>
    /// A loopback port: the preferred one when <see cref="FixedPorts"/> and it is free (stable URLs for
    /// people), otherwise one the kernel picks, so parallel test runs never collide.
    /// </summary>
    public int Port(int preferred)
    {
        lock (_ports)
        {
            if (FixedPorts && !_ports.Contains(preferred) && IsFree(preferred))
            {
                _ports.Add(preferred);
                return preferred;
            }

            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                listener.Stop();
                if (_ports.Add(port))
                {
                    return port;
                }
            }
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
