namespace AppHost.Hosting;

/// <summary>How this run of the AppHost behaves: where its state lives, and which ports and data it uses.</summary>
public sealed class AppHostOptions
{
    /// <summary>Data, logs, generated configs, PID records and <c>endpoints.json</c>.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>Delete the state folder's data before starting.</summary>
    public bool Fresh { get; init; }

    /// <summary>Create the demo tenant, its keys and a day of demo events.</summary>
    public bool Demo { get; init; } = true;

    /// <summary>Use the well-known ports when free (people); false picks free ports only (tests).</summary>
    public bool PreferFixedPorts { get; init; } = true;

    /// <summary>Write every resource's output to the console as well as to its log file.</summary>
    public bool ConsoleLogs { get; init; } = true;

    /// <summary>Where the service projects' sources and build outputs are.</summary>
    public string SourceRoot { get; init; } = BuildInfo.SourceRoot;

    public string BuildConfiguration { get; init; } = BuildInfo.Configuration;

    public TimeSpan StopGracePeriod { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Parses <c>--state DIR</c>, <c>--fresh</c> and <c>--no-demo</c>; other arguments are configuration.</summary>
    public static (AppHostOptions Options, string[] Remaining) Parse(string[] args, string defaultState)
    {
        string state = defaultState;
        bool fresh = false, demo = true;
        var remaining = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--state" when i + 1 < args.Length:
                    state = args[++i];
                    break;
                case "--fresh":
                    fresh = true;
                    break;
                case "--no-demo":
                    demo = false;
                    break;
                default:
                    remaining.Add(args[i]);
                    break;
            }
        }

        return (new AppHostOptions { StateDirectory = Path.GetFullPath(state), Fresh = fresh, Demo = demo }, remaining.ToArray());
    }
}

/// <summary>Facts fixed when the AppHost was built: where the sources are and which configuration built them.</summary>
public static class BuildInfo
{
    public static string SourceRoot => Metadata("Platform.SourceRoot");

    public static string Configuration => Metadata("Platform.Configuration");

    public static string RepositoryRoot => Path.GetFullPath(Path.Combine(SourceRoot, ".."));

    private static string Metadata(string key) =>
        typeof(BuildInfo).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == key)?.Value
        ?? throw new InvalidOperationException($"The AppHost was built without {key}.");
}
