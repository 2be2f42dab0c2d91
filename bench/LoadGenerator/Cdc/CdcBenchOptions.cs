using System.Globalization;

namespace LoadGenerator.Cdc;

/// <summary>What one CDC replication-lag run does: <c>scripts/bench cdc [options]</c>.</summary>
public sealed class CdcBenchOptions
{
    public const string Usage = """
        Usage: scripts/bench cdc [options]

        Starts its own platform with the CDC bridge on one table of the app database, writes to it
        at a steady rate (70% inserts, 20% updates, 10% deletes, one change per transaction) and
        reports how long each committed insert took to be readable in ClickHouse's cdc_ view
        (p50/p95/p99/max), the bridge's replication lag in bytes as its status reports it, and
        whether every change arrived.

          --rate N      transactions per second (default 200)
          --seconds N   length of the steady load (default 60)
          --help        this text
        """;

    public int Rate { get; private set; } = 200;

    public int Seconds { get; private set; } = 60;

    public bool Help { get; private set; }

    public static CdcBenchOptions Parse(string[] args)
    {
        var options = new CdcBenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{name} needs a value.");
            switch (name)
            {
                case "--rate": options.Rate = Positive(name, Value(), 100_000); break;
                case "--seconds": options.Seconds = Positive(name, Value(), 86_400); break;
                case "--help" or "-h": options.Help = true; break;
                default: throw new FormatException($"Unknown argument '{name}' (see scripts/bench cdc --help).");
            }
        }

        return options;
    }

    private static int Positive(string name, string value, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= max
            ? n
            : throw new FormatException($"{name} takes a whole number from 1 to {max}, not '{value}'.");
}
