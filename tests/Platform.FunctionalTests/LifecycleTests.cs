using System.Diagnostics;
using System.Net;
using AppHost.Hosting;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>Start, stop and start again on one state folder: data survives, processes do not.</summary>
public sealed class LifecycleTests() : StateFolderTest("lifecycle")
{
    private readonly NoDemoPlatform _platform = new();

    [Fact]
    public async Task ASecondStartKeepsTheDataAFreshStartDoesNotAndStoppingLeavesNoProcessBehind()
    {
        TestTenant tenant;
        await using (var first = await _platform.StartAsync(State, fresh: false))
        {
            tenant = await PlatformFixture.CreateTenantAsync(first);
            using var collector = PlatformFixture.CreateCollectorClient(first, tenant.WriteKey);
            using var posted = await collector.PostAsync("/v1/events", Http.Json($"[{Http.Event("kept", "u1")}, {Http.Event("kept", "u2")}]"));
            posted.EnsureSuccessStatusCode();
            using var api = PlatformFixture.CreateApiClient(first, tenant.ReadKey);
            Assert.Equal(2, (long)(await api.CountUntilAsync(2))["total"]!);
        }

        Assert.Empty(OrphanProcesses.Using(State));

        await using (var second = await _platform.StartAsync(State, fresh: false))
        {
            using var api = PlatformFixture.CreateApiClient(second, tenant.ReadKey);
            Assert.Equal(2, (long)(await api.CountUntilAsync(2))["total"]!);
        }

        await using (var fresh = await _platform.StartAsync(State, fresh: true))
        {
            using var api = PlatformFixture.CreateApiClient(fresh, tenant.ReadKey);
            using var response = await api.GetAsync("/v1/events/count");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        Assert.Empty(OrphanProcesses.Using(State));
    }

    private sealed class NoDemoPlatform : PlatformFixture
    {
        protected override bool WithDemoData => false;
    }
}

/// <summary>Processes whose command line names a state folder: what a clean stop must leave none of.</summary>
internal static class OrphanProcesses
{
    public static List<string> Using(string stateDirectory)
    {
        var found = new List<string>();
        foreach (var directory in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(stateDirectory, StringComparison.Ordinal) && !Posix.IsZombie(pid))
                {
                    found.Add($"{pid}: {commandLine}");
                }
            }
            catch (IOException)
            {
            }
        }

        return found;
    }
}

/// <summary>The AppHost as people run it: a process that stops everything on SIGTERM and fails loudly.</summary>
public sealed class AppHostProcessTests() : StateFolderTest("apphost-process")
{

    [Fact]
    public async Task SigtermStopsEveryResourceAndTheAppHostExitsCleanly()
    {
        // Telemetry on the way: with OTEL_EXPORTER_OTLP_ENDPOINT set, every service exports traces, metrics and logs.
        using var otlp = new OtlpReceiver();
        using var host = StartAppHost(
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.Url),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "200"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "500"));
        await WaitForEndpointsAsync(host);
        Assert.NotEmpty(OrphanProcesses.Using(State));
        string[] services = ["collector", "ingestor", "transformer", "api"];
        string[] signals = ["traces", "metrics", "logs"];
        var exported = await Eventually.MatchesAsync(
            () => Task.FromResult(services.SelectMany(s => signals.Select(signal => (s, signal))).Where(x => !otlp.Received(x.signal, x.s)).ToList()),
            missing => missing.Count == 0);
        Assert.True(exported.Count == 0, "no OTLP export of " + string.Join(", ", exported));

        Posix.Signal(host.Process.Id, Posix.SigTerm);
        await host.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(0, host.Process.ExitCode);
        Assert.Contains("Stopped.", host.Output);
        Assert.Empty(OrphanProcesses.Using(State));
    }

    [Fact]
    public async Task ARunAfterTheAppHostWasKilledCleansUpWhatItLeftAndComesUp()
    {
        using (var crashed = StartAppHost())
        {
            await WaitForEndpointsAsync(crashed);
            Posix.Signal(crashed.Process.Id, Posix.SigKill);
            await crashed.Process.WaitForExitAsync();
        }

        var leftBehind = OrphanProcesses.Using(State);
        Assert.NotEmpty(leftBehind); // a SIGKILLed AppHost cannot stop its children: the next run must

        File.Delete(Path.Combine(State, "endpoints.json"));
        using var next = StartAppHost();
        await WaitForEndpointsAsync(next);

        Assert.Contains("left running by an earlier run", next.Output);
        Posix.Signal(next.Process.Id, Posix.SigTerm);
        await next.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(0, next.Process.ExitCode);
        Assert.Empty(OrphanProcesses.Using(State));
    }

    [Fact]
    public async Task AServiceThatFailsToStartShowsItsLogAndTheAppHostExitsNonZero()
    {
        // An invalid option makes the Ingestor refuse to start (options are validated on start).
        using var host = StartAppHost(("Ingestor__BatchMaxRows", "0"));

        await host.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));

        Assert.Equal(1, host.Process.ExitCode);
        Assert.Contains("ingestor exited with code", host.Output);
        Assert.Contains("Last lines of", host.Output);
        Assert.Contains("BatchMaxRows", host.Output);
        Assert.Empty(OrphanProcesses.Using(State));
    }

    private async Task WaitForEndpointsAsync(RunningHost host)
    {
        var endpoints = Path.Combine(State, "endpoints.json");
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (!File.Exists(endpoints) && !host.Process.HasExited && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        Assert.True(File.Exists(endpoints), "the AppHost should come up and write endpoints.json:\n" + host.Output);
    }

    private RunningHost StartAppHost(params (string Key, string Value)[] environment)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { typeof(AppHost.PlatformModel).Assembly.Location, "--state", State, "--no-demo" })
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["NO_COLOR"] = "1";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        return new RunningHost(Process.Start(info)!);
    }

    private sealed class RunningHost : IDisposable
    {
        private readonly System.Text.StringBuilder _output = new();

        public RunningHost(Process process)
        {
            Process = process;
            process.OutputDataReceived += (_, e) => Append(e.Data);
            process.ErrorDataReceived += (_, e) => Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Posix.Signal(Process.Id, Posix.SigTerm);
                Process.WaitForExit(30_000);
            }

            Process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(line);
                }
            }
        }
    }
}
