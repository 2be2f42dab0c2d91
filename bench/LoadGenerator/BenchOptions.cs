using System.Globalization;

namespace LoadGenerator;

public enum SendMode
{
    /// <summary>One request carries <see cref="BenchOptions.BatchSize"/> events as <c>{"batch": [...]}</c>.</summary>
    Batch,

    /// <summary>One request carries one event object, as a naive client sends them.</summary>
    Single,
}

/// <summary>What one benchmark run does, parsed from its command line.</summary>
public sealed class BenchOptions
{
    public const string Usage = """
        Usage: scripts/bench [options]

        Drives the Collector at full speed with realistic events, then reports intake rate and latency,
        send-to-queryable freshness, lost and duplicated events, and ClickHouse's raw insert rate.
        Without --endpoints it starts its own platform (fresh state, free ports) and stops it afterwards.

          --endpoints FILE      benchmark a running platform (the endpoints.json that scripts/up writes)
          --mode batch|single   events per request: --batch-size (default) or one
          --batch-size N        events per request in batch mode (default 500)
          --concurrency N       requests in flight (default 8 in batch mode, 64 in single mode)
          --duration T          how long to send and measure: 30s, 2m, 500ms (default 30s)
          --warmup T            send this long first, unmeasured, and wait until it is stored, so the
                                services' JIT has settled (default 5s; 0 for none)
          --rate N              offer N events/s instead of as many as the Collector accepts
          --with-transformer    keep the Transformer's scheduled builds on in a platform this run starts (off by
                                default: they rebuild today's models from raw_events, which the run fills with
                                millions of rows, and measure the Transformer rather than intake)
          --no-half-rate        at full speed, skip the second phase that offers half the measured end-to-end
                                rate for --duration and measures freshness there (the freshness target's load)
          --tenants N           benchmark tenants, requests spread round-robin (default 4)
          --gzip                send gzip bodies (costs the generator CPU per request)
          --probe-interval T    at most one freshness probe per T (default 5ms)
          --poll-interval T     how often ClickHouse is asked which probes are visible (default 100ms)
          --drain-timeout T     how long to wait for the last events to become queryable (default 120s)
          --raw-batch N         rows per request in the raw ClickHouse insert comparison (default 20000)
          --no-raw-insert       skip the raw ClickHouse insert comparison
          --profile DIR         sample the Collector's and the Ingestor's stacks with dotnet-trace while the
                                full-speed phase sends; traces in DIR, top methods printed
          --set KEY=VALUE       configuration for the platform this run starts (an environment variable
                                of its services), e.g. --set Ingestor__BatchMaxDelay=00:00:00.100; repeatable
          --state DIR           state folder of the platform this run starts (default: a temporary one)
          --keep-data           keep the benchmark's rows (and a temporary state folder) afterwards
          --help                this text

        Exit code 0 when no accepted event was lost and queries count no event twice, 1 otherwise.
        """;

    public SendMode Mode { get; private set; } = SendMode.Batch;

    public int BatchSize { get; private set; } = 500;

    public int EventsPerRequest => Mode == SendMode.Batch ? BatchSize : 1;

    public int Concurrency { get; private set; }

    public TimeSpan Duration { get; private set; } = TimeSpan.FromSeconds(30);

    /// <summary>Unmeasured sending before the measured phase: .NET's tiered JIT recompiles hot code for the first seconds.</summary>
    public TimeSpan Warmup { get; private set; } = TimeSpan.FromSeconds(5);

    /// <summary>Events per second to offer; 0 sends as fast as the Collector answers.</summary>
    public int Rate { get; private set; }

    /// <summary>After a full-speed phase, offer half its end-to-end rate for as long and measure freshness there.</summary>
    public bool HalfRatePhase { get; private set; } = true;

    /// <summary>Whether a platform this run starts runs the Transformer's schedule.</summary>
    public bool WithTransformer { get; private set; }

    public int Tenants { get; private set; } = 4;

    public bool Gzip { get; private set; }

    public TimeSpan ProbeInterval { get; private set; } = TimeSpan.FromMilliseconds(5);

    public TimeSpan PollInterval { get; private set; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan DrainTimeout { get; private set; } = TimeSpan.FromSeconds(120);

    public int RawBatchRows { get; private set; } = 20_000;

    public bool RawInsert { get; private set; } = true;

    public string? EndpointsFile { get; private set; }

    /// <summary>Where dotnet-trace's traces of the services go; null traces nothing.</summary>
    public string? ProfileDirectory { get; private set; }

    public string? StateDirectory { get; private set; }

    public bool KeepData { get; private set; }

    public bool Help { get; private set; }

    /// <summary>Configuration handed to the services of a platform this run starts.</summary>
    public Dictionary<string, string> Settings { get; } = [];

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        int? concurrency = null;
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{name} needs a value.");
            switch (name)
            {
                case "--endpoints": options.EndpointsFile = Path.GetFullPath(Value()); break;
                case "--mode":
                    options.Mode = Value() switch
                    {
                        "batch" => SendMode.Batch,
                        "single" => SendMode.Single,
                        var other => throw new FormatException($"--mode is batch or single, not '{other}'."),
                    };
                    break;
                case "--batch-size": options.BatchSize = PositiveInt(name, Value(), max: 10_000); break;
                case "--concurrency": concurrency = PositiveInt(name, Value(), max: 4096); break;
                case "--duration": options.Duration = ParseDuration(name, Value()); break;
                case "--warmup":
                    var warmup = Value();
                    options.Warmup = warmup == "0" ? TimeSpan.Zero : ParseDuration(name, warmup);
                    break;
                case "--rate": options.Rate = PositiveInt(name, Value(), max: 100_000_000); break;
                case "--no-half-rate": options.HalfRatePhase = false; break;
                case "--with-transformer": options.WithTransformer = true; break;
                case "--tenants": options.Tenants = PositiveInt(name, Value(), max: 1000); break;
                case "--gzip": options.Gzip = true; break;
                case "--probe-interval": options.ProbeInterval = ParseDuration(name, Value()); break;
                case "--poll-interval": options.PollInterval = ParseDuration(name, Value()); break;
                case "--drain-timeout": options.DrainTimeout = ParseDuration(name, Value()); break;
                case "--raw-batch": options.RawBatchRows = PositiveInt(name, Value(), max: 1_000_000); break;
                case "--no-raw-insert": options.RawInsert = false; break;
                case "--profile": options.ProfileDirectory = Path.GetFullPath(Value()); break;
                case "--set":
                    var setting = Value();
                    var equals = setting.IndexOf('=');
                    if (equals <= 0)
                    {
                        throw new FormatException($"--set takes KEY=VALUE, not '{setting}'.");
                    }

                    // Section:Key and Section__Key name the same setting; environment variables need the latter.
                    options.Settings[setting[..equals].Replace(":", "__", StringComparison.Ordinal)] = setting[(equals + 1)..];
                    break;
                case "--state": options.StateDirectory = Path.GetFullPath(Value()); break;
                case "--keep-data": options.KeepData = true; break;
                case "--help" or "-h": options.Help = true; break;
                default: throw new FormatException($"Unknown argument '{name}' (see --help).");
            }
        }

        options.Concurrency = concurrency ?? (options.Mode == SendMode.Batch ? 8 : 64);
        if (options.EndpointsFile is not null && (options.Settings.Count > 0 || options.StateDirectory is not null))
        {
            throw new FormatException("--set and --state configure a platform this run starts; with --endpoints the platform is already running.");
        }

        return options;
    }

    /// <summary>The same run offering <paramref name="rate"/> events/s, without warm-up (the platform is warm).</summary>
    public BenchOptions AtRate(int rate)
    {
        var copy = (BenchOptions)MemberwiseClone();
        copy.Rate = rate;
        copy.Warmup = TimeSpan.Zero;
        copy.HalfRatePhase = false;
        copy.ProfileDirectory = null;
        return copy;
    }

    /// <summary>500ms, 30s, 2m, or a bare number of seconds.</summary>
    public static TimeSpan ParseDuration(string name, string text)
    {
        var (number, unit) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0 || value * unit > 24 * 3600)
        {
            throw new FormatException($"{name} takes a duration such as 500ms, 30s or 2m, not '{text}'.");
        }

        return TimeSpan.FromSeconds(value * unit);
    }

    private static int PositiveInt(string name, string text, int max) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1 && value <= max
            ? value
            : throw new FormatException($"{name} takes a whole number from 1 to {max}, not '{text}'.");
}
