using System.Diagnostics;
using System.Text.Json;

namespace LoadGenerator.Measuring;

/// <summary>
/// <c>--profile DIR</c>: while the full-speed phase sends, <c>dotnet-trace</c> samples the .NET services' stacks (the
/// processes named in STATE/pids), one .nettrace per service in DIR; afterwards each trace's top methods by exclusive time
/// are printed. The traces open in PerfView or speedscope for the whole picture.
/// </summary>
public sealed class Profiler(string stateDirectory, string outputDirectory, TextWriter output)
{
    private static readonly string[] Services = ["collector", "ingestor"];
    private static readonly string[] Waiting = ["Wait", "Sleep", "Semaphore", "Poll(", "epoll", "Threads", "(Non-Activities)", "StartCallback", "Consume(", "Flush("];
    private readonly List<(string Service, string Trace, Process Collect)> _running = [];

    /// <summary>dotnet-trace from PATH, or where scripts/bench installs it (.tools).</summary>
    public static string Tool => Environment.GetEnvironmentVariable("DOTNET_TRACE") is { Length: > 0 } tool ? tool : "dotnet-trace";

    public void Start(TimeSpan duration)
    {
        Directory.CreateDirectory(outputDirectory);
        foreach (var service in Services)
        {
            var record = Path.Combine(stateDirectory, "pids", service + ".json");
            if (!File.Exists(record))
            {
                output.WriteLine($"profile: no PID record for {service}; not traced.");
                continue;
            }

            var pid = ServiceProcess(JsonDocument.Parse(File.ReadAllText(record)).RootElement.GetProperty("pid").GetInt32(), service);
            var trace = Path.Combine(outputDirectory, service + ".nettrace");
            var collect = Run(["collect", "-p", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--profile", "dotnet-sampled-thread-time",
                "--duration", duration.ToString(@"dd\:hh\:mm\:ss", System.Globalization.CultureInfo.InvariantCulture), "-o", trace]);
            _running.Add((service, trace, collect));
        }
    }

    /// <summary>Waits for the traces and prints each service's top methods (exclusive time of sampled stacks, waits included).</summary>
    public async Task ReportAsync(CancellationToken cancellationToken)
    {
        foreach (var (service, trace, collect) in _running)
        {
            await collect.WaitForExitAsync(cancellationToken);
            if (!File.Exists(trace))
            {
                output.WriteLine($"profile: {service}: dotnet-trace wrote no trace (exit {collect.ExitCode}): {(await collect.StandardError.ReadToEndAsync(cancellationToken)).Trim()}");
                continue;
            }

            using var report = Run(["report", trace, "topN", "-n", "80"]);
            var text = await report.StandardOutput.ReadToEndAsync(cancellationToken);
            await report.WaitForExitAsync(cancellationToken);
            // The samples are of every thread, waiting ones too: leave out the waits to see where the work went.
            var working = text.Split('\n').Skip(1).Where(line => line.Trim().Length > 0 && !Waiting.Any(line.Contains)).Take(25);
            output.WriteLine($"profile: {service} ({trace}), top methods by exclusive share of thread samples, waits left out:");
            output.WriteLine(string.Join('\n', working).TrimEnd());
        }
    }

    /// <summary>The recorded process, or its descendant that runs the service (a launcher such as <c>dotnet run</c> records its own PID).</summary>
    private static int ServiceProcess(int recorded, string service)
    {
        var processes = CpuSampler.ReadProcesses();
        bool Descends(int pid) => pid == recorded || (processes.TryGetValue(pid, out var stat) && stat.Parent > 1 && Descends(stat.Parent));
        foreach (var pid in processes.Keys.Where(Descends))
        {
            try
            {
                // The service's apphost (bin/.../Collector) or dotnet with its assembly (Collector.dll).
                var arguments = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
                if (arguments.Take(2).Any(a => Path.GetFileNameWithoutExtension(a).Equals(service, StringComparison.OrdinalIgnoreCase) && !a.EndsWith(".csproj", StringComparison.OrdinalIgnoreCase)))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
        }

        return recorded;
    }

    private static Process Run(IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(Tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info) ?? throw new InvalidOperationException($"{Tool} did not start.");
    }
}
