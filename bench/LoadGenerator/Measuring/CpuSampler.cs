using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace LoadGenerator.Measuring;

/// <summary>CPU time per platform component over a phase, in % of one core (the machine's total is cores x 100%).</summary>
public sealed record CpuUsage(IReadOnlyList<(string Component, double Percent)> Components, double MachineBusyPercent, int Cores, TimeSpan Window)
{
    /// <summary>Components that are not the platform: this generator, whatever else ran, and the kernel's unattributed share.</summary>
    public static bool IsPlatform(string component) => component is not ("load generator" or "other" or "unattributed");

    /// <summary>CPU time a component spent per event over the window, in microseconds.</summary>
    public double MicrosecondsPerEvent(double percent, long events) => events == 0 ? double.NaN : percent / 100 * Window.TotalSeconds * 1e6 / events;
}

/// <summary>
/// Reads /proc to say which process the CPU went to. The platform's processes are the PID records
/// in STATE/pids (one per resource, plus the AppHost, which hosts the development Kafka broker);
/// each claims its descendants (PostgreSQL's backends). librdkafka's threads ("rdk:...") in the
/// AppHost are the mock broker. Whatever no record claims, this generator aside, is "other".
/// </summary>
public sealed class CpuSampler(string stateDirectory)
{
    private const double TicksPerSecond = 100; // USER_HZ: 100 on every Linux this runs on

    public const string Broker = "kafka broker (librdkafka mock)";

    public string StateDirectory => stateDirectory;

    public Snapshot Take()
    {
        var roots = ReadRecords();
        var self = Environment.ProcessId;
        var processes = ReadProcesses();
        var ticks = new Dictionary<string, long>();
        void Add(string component, long value) => ticks[component] = ticks.GetValueOrDefault(component) + value;
        var apphost = roots.FirstOrDefault(r => r.Value == "apphost").Key;
        foreach (var (pid, stat) in processes)
        {
            if (pid == apphost || pid == self)
            {
                // Its children are the services and servers, claimed below; count its own threads only.
                var broker = BrokerThreadTicks(pid);
                Add(Broker, broker);
                Add(pid == self ? "load generator" : "apphost", stat.Own - broker);
                continue;
            }

            var component = "other";
            for (var p = pid; p > 1 && processes.TryGetValue(p, out var up); p = up.Parent)
            {
                if (p != apphost && p != self && roots.TryGetValue(p, out var name))
                {
                    component = name;
                    break;
                }
            }

            // Children's time counts once they are reaped (PostgreSQL backends, test hosts, compilers that ended inside the phase).
            Add(component, stat.Own + stat.Children);
        }

        return new Snapshot(Stopwatch.GetTimestamp(), ticks, ReadMachine());
    }

    public static CpuUsage Between(Snapshot start, Snapshot end)
    {
        var seconds = (end.Timestamp - start.Timestamp) / (double)Stopwatch.Frequency;
        var components = end.Ticks.Keys.Union(start.Ticks.Keys)
            .Select(c => (Component: c, Percent: Math.Max(0, end.Ticks.GetValueOrDefault(c) - start.Ticks.GetValueOrDefault(c)) / TicksPerSecond / seconds * 100))
            .Where(c => c.Percent >= 0.5 || c.Component == "other")
            .OrderByDescending(c => c.Percent)
            .ToList();
        var busy = end.Machine.Busy - start.Machine.Busy;
        var total = busy + end.Machine.Idle - start.Machine.Idle;
        var machine = total == 0 ? 0 : busy * 100.0 * Environment.ProcessorCount / total;

        // Processes that started and ended inside the phase under a parent that is gone, and the kernel's own work.
        var unattributed = machine - components.Sum(c => c.Percent);
        if (unattributed >= 0.5)
        {
            components.Add(("unattributed", unattributed));
        }

        return new CpuUsage(components, machine, Environment.ProcessorCount, TimeSpan.FromSeconds(seconds));
    }

    private Dictionary<int, string> ReadRecords()
    {
        var records = new Dictionary<int, string>();
        var directory = Path.Combine(stateDirectory, "pids");
        if (!Directory.Exists(directory))
        {
            return records;
        }

        foreach (var file in Directory.EnumerateFiles(directory, "*.json"))
        {
            try
            {
                using var document = JsonDocument.Parse(File.ReadAllText(file));
                records[document.RootElement.GetProperty("pid").GetInt32()] = Path.GetFileNameWithoutExtension(file);
            }
            catch (Exception ex) when (ex is IOException or JsonException or KeyNotFoundException or InvalidOperationException)
            {
                // A record being rewritten or removed: the next snapshot reads it.
            }
        }

        return records;
    }

    private static long BrokerThreadTicks(int pid)
    {
        long ticks = 0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).StartsWith("rdk:", StringComparison.Ordinal) && ReadStat(Path.Combine(task, "stat")) is { } stat)
                {
                    ticks += stat.Own;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return ticks;
    }

    /// <summary>Every process now: its parent and its CPU ticks (its own, and its reaped children's).</summary>
    public static Dictionary<int, (int Parent, long Own, long Children)> ReadProcesses()
    {
        var processes = new Dictionary<int, (int Parent, long Own, long Children)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && ReadStat(Path.Combine(dir, "stat")) is { } stat)
            {
                processes[pid] = stat;
            }
        }

        return processes;
    }

    // /proc/PID/stat: "pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17) ..."; comm may hold spaces.
    private static (int Parent, long Own, long Children)? ReadStat(string path)
    {
        try
        {
            var text = File.ReadAllText(path);
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            long Field(int number) => long.Parse(fields[number - 3], CultureInfo.InvariantCulture);
            return ((int)Field(4), Field(14) + Field(15), Field(16) + Field(17));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null; // the process ended while we looked
        }
    }

    private static (long Busy, long Idle) ReadMachine()
    {
        var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var idle = cpu[3] + cpu[4]; // idle + iowait
        return (cpu.Take(8).Sum() - idle, idle);
    }

    public sealed record Snapshot(long Timestamp, IReadOnlyDictionary<string, long> Ticks, (long Busy, long Idle) Machine);
}
