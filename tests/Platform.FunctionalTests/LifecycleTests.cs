using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using AppHost.Lifecycle;
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

    [Fact]
    public async Task StoppingWithABacklogInTheDevBrokerDrainsItFirstSoNothingAcknowledgedIsLost()
    {
        TestTenant tenant;
        const int Events = 600;
        await using (var first = await _platform.StartAsync(State, fresh: false))
        {
            tenant = await PlatformFixture.CreateTenantAsync(first);
            // With the Ingestor stopped, every acknowledged event waits in the in-memory broker.
            await first.StopResourceAsync("ingestor");
            using var collector = PlatformFixture.CreateCollectorClient(first, tenant.WriteKey);
            for (var batch = 0; batch < Events / 100; batch++)
            {
                var events = string.Join(",", Enumerable.Range(batch * 100, 100).Select(i => Http.Event("backlog", $"u{i % 7}", id: $"backlog-{i}")));
                using var posted = await collector.PostAsync("/v1/events", Http.Json($"[{events}]"));
                Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
            }
        }

        await using var second = await _platform.StartAsync(State, fresh: false);
        using var api = PlatformFixture.CreateApiClient(second, tenant.ReadKey);
        Assert.Equal(Events, (long)(await api.CountUntilAsync(Events))["total"]!);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(Events, (long)(await api.CountAsync())["total"]!); // and not more
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

/// <summary>Signals and process state for the tests that drive the AppHost as a process.</summary>
internal static class Posix
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    public static void Signal(int pid, int signal) => _ = kill(pid, signal);

    public static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] == 'Z';
        }
        catch (IOException)
        {
            return true;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}

/// <summary>The AppHost as people run it: a process with Aspire's dashboard that stops everything on SIGTERM.</summary>
public sealed class AppHostProcessTests() : StateFolderTest("apphost-process")
{
    [Fact]
    public async Task TheDashboardAnswersAndSigtermStopsEveryResourceAndTheAppHostExitsCleanly()
    {
        using var host = StartAppHost();
        await WaitForEndpointsAsync(host);
        Assert.NotEmpty(OrphanProcesses.Using(State));

        var login = System.Text.RegularExpressions.Regex.Match(host.Output, @"Login to the dashboard at (\S+)");
        Assert.True(login.Success, host.Output);
        using (var http = new HttpClient())
        using (var dashboard = await http.GetAsync(login.Groups[1].Value))
        {
            Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        }

        Posix.Signal(host.Process.Id, Posix.SigTerm);
        await host.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));

        Assert.Equal(0, host.Process.ExitCode);
        Assert.Empty(OrphanProcesses.Using(State));
        Assert.False(File.Exists(Path.Combine(State, "endpoints.json")));
    }

    [Fact]
    public async Task ARunAfterTheAppHostWasKilledStopsWhatItLeftAndComesUp()
    {
        using (var crashed = StartAppHost())
        {
            await WaitForEndpointsAsync(crashed);
            // DCP watches the AppHost (--monitor PID) and keeps a "monitor-process" per resource that stops it once DCP
            // goes, racing the next run. Kill DCP and everything it started but the servers, as a crash of the machine's
            // session would, so the servers are certainly left behind and nothing else is.
            foreach (var process in EverythingButTheServersLeavesFirst(crashed.Process.Id))
            {
                Posix.Signal(process, Posix.SigKill);
            }

            Posix.Signal(crashed.Process.Id, Posix.SigKill);
            await crashed.Process.WaitForExitAsync();
        }

        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Contains(OrphanProcesses.Using(State), p => p.Contains("clickhouse-server", StringComparison.Ordinal));
        File.Delete(Path.Combine(State, "endpoints.json"));
        using var next = StartAppHost();
        await WaitForEndpointsAsync(next);
        Assert.Contains("left running by an earlier run", File.ReadAllText(Path.Combine(State, "logs", "clickhouse.log")));
        Posix.Signal(next.Process.Id, Posix.SigTerm);
        await next.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(0, next.Process.ExitCode);
        Assert.Empty(OrphanProcesses.Using(State));
    }

    /// <summary>
    /// What DCP runs for the AppHost <paramref name="appHostPid"/> except the ClickHouse and PostgreSQL servers: its API
    /// server, its own processes under it, and the other resources' process trees (services, the dashboard), leaves first.
    /// </summary>
    private static List<int> EverythingButTheServersLeavesFirst(int appHostPid)
    {
        var apiServer = ResourceProcess.Processes().Single(pid => ResourceProcess.CommandLine(pid).Contains($" --monitor {appHostPid} ", StringComparison.Ordinal));
        var dcpExecutable = ResourceProcess.CommandLine(apiServer).Split(' ')[0] + " ";
        var dcp = ResourceProcess.Descendants(apiServer).Where(pid => ResourceProcess.CommandLine(pid).StartsWith(dcpExecutable, StringComparison.Ordinal)).Prepend(apiServer).ToList();

        // A resource's process is the --child of its monitor-process; the postgres server runs under a shell wrapper.
        static bool IsServer(int pid) => ResourceProcess.CommandLine(pid) is var line && (line.Contains("clickhouse-server", StringComparison.Ordinal) || line.Contains("/postgres ", StringComparison.Ordinal));
        var others = dcp.Select(pid => System.Text.RegularExpressions.Regex.Match(ResourceProcess.CommandLine(pid), @" monitor-process .*--child (\d+)"))
            .Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
            .Select(resource => ResourceProcess.Descendants(resource).Prepend(resource).ToList())
            .Where(tree => !tree.Any(IsServer))
            .SelectMany(tree => tree)
            .ToList();
        others.Reverse();
        dcp.Reverse();
        return [.. dcp, .. others];
    }

    [Fact]
    public async Task AServiceInACrashLoopIsRestartedWithBackoffThenLeftStoppedWithTheReason()
    {
        // An invalid option makes the Ingestor refuse to start (options are validated on start), every time.
        using var host = StartAppHost(("Resources__ingestor__Environment__Ingestor__BatchMaxRows", "0"));

        var output = await Eventually.MatchesAsync(() => Task.FromResult(host.Output), o => o.Contains("not restarting it again", StringComparison.Ordinal),
            TimeSpan.FromMinutes(3));

        Assert.Contains("ingestor exited unexpectedly", output);
        Assert.Contains("restarting it in 1 s", output);
        Assert.Contains("restarting it in 8 s", output);
        Assert.Contains("ingestor exited 5 times within 5 minutes", output);
        Assert.Contains("BatchMaxRows", File.ReadAllText(Path.Combine(State, "logs", "ingestor.log")));
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

    /// <summary>The built AppHost, as <c>dotnet run --project src/AppHost</c> starts it (the launch profile's settings, free ports).</summary>
    private RunningHost StartAppHost(params (string Key, string Value)[] environment)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { typeof(AppHost.PlatformOptions).Assembly.Location, "--state", State, "--no-demo", "--Platform:FixedPorts=false" })
        {
            info.ArgumentList.Add(argument);
        }

        int Free()
        {
            using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        info.Environment["NO_COLOR"] = "1";
        info.Environment["DOTNET_ENVIRONMENT"] = "Development";
        info.Environment["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true";
        info.Environment["ASPNETCORE_URLS"] = $"http://localhost:{Free()}";
        info.Environment["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = $"http://localhost:{Free()}";
        info.Environment["ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"] = $"http://localhost:{Free()}";
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
                Process.WaitForExit(60_000);
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
