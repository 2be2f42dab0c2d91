using System.Globalization;

namespace LoadGenerator.Queries;

/// <summary>What one query benchmark run does: <c>scripts/bench queries [options]</c>.</summary>
public sealed class QueryBenchOptions
{
    public const string Usage = """
        Usage: scripts/bench queries [options]

        Loads generated events straight into ClickHouse (INSERT ... SELECT FROM numbers(N): not through
        the Collector, so it is fast and measures nothing of intake), rebuilds the Transformer's models
        (run --full-refresh), then measures each metrics endpoint's p50/p95 latency over --iterations
        requests after a warm-up, beside the same question asked as straightforward SQL over raw_events.
        Without --endpoints it starts its own platform (output cache off) and stops it afterwards.

          --events N        events to load (default 1000000), spread over the tenants
          --days N          days of history, ending 10 minutes ago (default 90)
          --tenants N       tenants (default 4); requests go round-robin over them
          --users N         distinct users per tenant (default: events / tenants / 100, at least 100)
          --iterations N    measured requests per endpoint and per SQL question (default 50)
          --warmup N        unmeasured requests first (default 30: a fresh Api runs its first requests
                            per endpoint on unoptimised code until the runtime's tiered JIT recompiles it)
          --endpoints FILE  a running platform (scripts/up's endpoints.json); requests then carry a
                            nonce parameter, so its output cache cannot answer them
          --set KEY=VALUE   configuration for the platform this run starts; repeatable
          --state DIR       state folder of the platform this run starts (default: a temporary one)
          --keep-data       keep the loaded rows (and a temporary state folder) afterwards
          --help            this text
        """;

    public long Events { get; private set; } = 1_000_000;

    public int Days { get; private set; } = 90;

    public int Tenants { get; private set; } = 4;

    public long? Users { get; private set; }

    public int Iterations { get; private set; } = 50;

    public int Warmup { get; private set; } = 30;

    public string? EndpointsFile { get; private set; }

    public string? StateDirectory { get; private set; }

    public bool KeepData { get; private set; }

    public bool Help { get; private set; }

    public Dictionary<string, string> Settings { get; } = [];

    public long UsersPerTenant => Users ?? Math.Max(100, Events / Tenants / 100);

    public static QueryBenchOptions Parse(string[] args)
    {
        var options = new QueryBenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{name} needs a value.");
            switch (name)
            {
                case "--events": options.Events = Positive(name, Value(), 10_000_000_000); break;
                case "--days": options.Days = (int)Positive(name, Value(), 3650); break;
                case "--tenants": options.Tenants = (int)Positive(name, Value(), 1000); break;
                case "--users": options.Users = Positive(name, Value(), 1_000_000_000); break;
                case "--iterations": options.Iterations = (int)Positive(name, Value(), 100_000); break;
                case "--warmup": options.Warmup = (int)Positive(name, Value(), 10_000); break;
                case "--endpoints": options.EndpointsFile = Path.GetFullPath(Value()); break;
                case "--state": options.StateDirectory = Path.GetFullPath(Value()); break;
                case "--keep-data": options.KeepData = true; break;
                case "--set":
                    var setting = Value();
                    var equals = setting.IndexOf('=');
                    if (equals <= 0)
                    {
                        throw new FormatException($"--set takes KEY=VALUE, not '{setting}'.");
                    }

                    options.Settings[setting[..equals].Replace(":", "__", StringComparison.Ordinal)] = setting[(equals + 1)..];
                    break;
                case "--help" or "-h": options.Help = true; break;
                default: throw new FormatException($"Unknown argument '{name}' (see scripts/bench queries --help).");
            }
        }

        if (options.Days < 31)
        {
            throw new FormatException("--days must be at least 31: the questions cover the last 30 whole days.");
        }

        if (options.EndpointsFile is not null && (options.Settings.Count > 0 || options.StateDirectory is not null))
        {
            throw new FormatException("--set and --state configure a platform this run starts; with --endpoints the platform is already running.");
        }

        return options;
    }

    private static long Positive(string name, string text, long max) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1 && value <= max
            ? value
            : throw new FormatException($"{name} takes a whole number from 1 to {max}, not '{text}'.");
}
