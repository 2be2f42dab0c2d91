using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;

namespace AppHost.Hosting;

/// <summary>
/// Runs the application model: cleans up after a crashed run, starts each resource once what it
/// waits for is healthy (independent ones in parallel), writes <c>endpoints.json</c> and a status
/// table, and on Ctrl-C or SIGTERM stops services before the infrastructure they use.
/// </summary>
public sealed class DistributedApplication : IAsyncDisposable
{
    private readonly IReadOnlyList<Resource> _order;
    private readonly ResourceContext _context;
    private readonly List<Resource> _started = [];
    private bool _stopped;

    internal DistributedApplication(AppHostOptions options, IConfiguration configuration, IReadOnlyList<Resource> order)
    {
        Options = options;
        _order = order;
        Directory.CreateDirectory(options.StateDirectory);
        _context = new ResourceContext(options, configuration,
            new LogSink(Path.Combine(options.StateDirectory, "logs"), options.ConsoleLogs),
            new ProcessTracker(options.StateDirectory),
            new PortAllocator(options.PreferFixedPorts));
    }

    public AppHostOptions Options { get; }

    public IReadOnlyList<Resource> Resources => _order;

    public string EndpointsFile => Path.Combine(Options.StateDirectory, "endpoints.json");

    public Resource this[string name] => _order.FirstOrDefault(r => r.Name == name)
        ?? throw new KeyNotFoundException($"No resource named '{name}'.");

    public LogSink Logs => _context.Logs;

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        var startedAt = System.Diagnostics.Stopwatch.StartNew();
        await PrepareStateAsync();
        foreach (var resource in _order)
        {
            resource.AllocatePorts(_context);
        }

        using var failFast = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = new Dictionary<Resource, Task>();
        foreach (var resource in _order)
        {
            tasks[resource] = StartOneAsync(resource, tasks, failFast.Token);
        }

        var pending = tasks.Values.ToList();
        while (pending.Count > 0)
        {
            var finished = await Task.WhenAny(pending);
            pending.Remove(finished);
            if (finished.IsFaulted || finished.IsCanceled)
            {
                await failFast.CancelAsync();
                await Task.WhenAll(pending.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
                var failure = tasks.Values.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!).FirstOrDefault();
                ReportFailure(failure);
                await StopAsync();
                throw failure ?? new OperationCanceledException("Start was cancelled.");
            }
        }

        WriteEndpoints();
        PrintStatus(startedAt.Elapsed);
    }

    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        foreach (var resource in ResourceGraph.StopOrder(_order).Where(_started.Contains))
        {
            try
            {
                await resource.StopAsync(_context);
                resource.State = ResourceState.Stopped;
            }
            catch (Exception ex)
            {
                _context.Log("apphost", $"Stopping {resource.Name} failed: {ex.Message}");
            }
        }

        _context.Processes.Forget(ProcessTracker.OwnerRecord);
        _context.Log("apphost", "Stopped.");
    }

    /// <summary>Stops one resource and leaves the rest running (tests use it to take a dependency away).</summary>
    public async Task StopResourceAsync(string name)
    {
        var resource = this[name];
        await resource.StopAsync(_context);
        resource.State = ResourceState.Stopped;
        _context.Log("apphost", $"{name} stopped on request.");
    }

    /// <summary>
    /// Kills a resource's process with SIGKILL, as a crash or the OOM killer would: no shutdown code runs.
    /// Returns once it has exited; <see cref="StartResourceAsync"/> starts it again.
    /// </summary>
    public async Task KillResourceAsync(string name)
    {
        var resource = this[name];
        // The PID record is the AppHost's account of which process runs a resource; its start time tells it from a reused PID.
        var recordFile = Path.Combine(Options.StateDirectory, "pids", name + ".json");
        var record = File.Exists(recordFile) ? JsonSerializer.Deserialize(File.ReadAllText(recordFile), HostingJsonContext.Default.PidRecord) : null;
        if (record is not { StartTime: > 0 } || Posix.StartTime(record.Pid) != record.StartTime)
        {
            throw new InvalidOperationException($"{name} has no running process to kill.");
        }

        Posix.Signal(record.Pid, Posix.SigKill);
        if (!await Posix.WaitForExitAsync(record.Pid, TimeSpan.FromSeconds(10)))
        {
            throw new InvalidOperationException($"{name} (pid {record.Pid}) did not exit after SIGKILL.");
        }

        resource.State = ResourceState.Stopped;
        _context.Log("apphost", $"{name} (pid {record.Pid}) killed on request.");
    }

    /// <summary>Starts a stopped resource again on the same ports and data, and waits until it is healthy.</summary>
    public Task StartResourceAsync(string name, CancellationToken cancellationToken = default) =>
        StartWithinTimeoutAsync(this[name], cancellationToken);

    /// <summary>Starts everything, then waits for Ctrl-C or SIGTERM and stops it all. Returns the process exit code.</summary>
    public async Task<int> RunAsync()
    {
        using var shutdown = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Handle);
        try
        {
            await StartAsync(shutdown.Token);
        }
        catch (Exception ex) when (ex is ResourceFailedException or MissingDependencyException or InvalidOperationException or OperationCanceledException)
        {
            return shutdown.IsCancellationRequested ? 130 : 1;
        }

        _context.Log("apphost", "Press Ctrl-C to stop.");
        try
        {
            await Task.Delay(Timeout.Infinite, shutdown.Token);
        }
        catch (OperationCanceledException)
        {
        }

        _context.Log("apphost", "Stopping...");
        await StopAsync();
        return 0;

        void Handle(PosixSignalContext signal)
        {
            signal.Cancel = true;
            shutdown.Cancel();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _context.Logs.Dispose();
    }

    private async Task PrepareStateAsync()
    {
        if (_context.Processes.IsOwnedByLiveHost(out var owner))
        {
            throw new InvalidOperationException($"Another AppHost (pid {owner}) is running on {Options.StateDirectory}; stop it or pass --state DIR.");
        }

        foreach (var stopped in await _context.Processes.CleanUpAsync())
        {
            _context.Log("apphost", $"Stopped {stopped}, left running by an earlier run that did not shut down.");
        }

        if (Options.Fresh)
        {
            foreach (var entry in Directory.EnumerateFileSystemEntries(Options.StateDirectory).Where(e => Path.GetFileName(e) is not "logs"))
            {
                if (Directory.Exists(entry))
                {
                    Directory.Delete(entry, recursive: true);
                }
                else
                {
                    File.Delete(entry);
                }
            }

            _context.Log("apphost", $"Fresh start: cleared {Options.StateDirectory}.");
        }

        _context.Processes.Record(ProcessTracker.OwnerRecord, Environment.ProcessId, Posix.SigTerm);
    }

    private async Task StartOneAsync(Resource resource, Dictionary<Resource, Task> tasks, CancellationToken cancellationToken)
    {
        await Task.WhenAll(resource.WaitsFor.Select(d => tasks[d]));
        cancellationToken.ThrowIfCancellationRequested();
        lock (_started)
        {
            _started.Add(resource);
        }

        await StartWithinTimeoutAsync(resource, cancellationToken);
    }

    /// <summary>Starts one resource, bounded by its start timeout; a failure names the resource and why.</summary>
    private async Task StartWithinTimeoutAsync(Resource resource, CancellationToken cancellationToken)
    {
        resource.State = ResourceState.Starting;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(resource.StartTimeout);
        try
        {
            await resource.StartAsync(_context, timeout.Token);
            if (resource.State == ResourceState.Starting)
            {
                resource.State = ResourceState.Running;
            }

            _context.Log("apphost", $"{resource.Name} is {(resource.State == ResourceState.Finished ? "done" : "healthy")}{(resource.IsExternal ? " (external)" : "")}.");
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            resource.State = ResourceState.Failed;
            throw new ResourceFailedException(resource.Name, $"{resource.Name} did not become healthy within {resource.StartTimeout.TotalSeconds:0} s.");
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not ResourceFailedException)
        {
            resource.State = ResourceState.Failed;
            throw new ResourceFailedException(resource.Name, ex is MissingDependencyException ? ex.Message : $"{resource.Name} failed to start: {ex.Message}");
        }
        catch
        {
            resource.State = ResourceState.Failed;
            throw;
        }
    }

    private void ReportFailure(Exception? failure)
    {
        if (failure is null)
        {
            return;
        }

        _context.Logs.Write("apphost", failure.Message, isError: true);
        if (failure is ResourceFailedException failed)
        {
            var tail = _context.Logs.Tail(failed.Resource, 40);
            if (tail.Count > 0)
            {
                _context.Logs.Write("apphost", $"Last lines of {_context.Logs.PathOf(failed.Resource)}:", isError: true);
                foreach (var line in tail)
                {
                    _context.Logs.Write("apphost", "  " + line, isError: true);
                }
            }
        }
    }

    private void WriteEndpoints()
    {
        var endpoints = new JsonObject();
        foreach (var resource in _order)
        {
            switch (resource)
            {
                case IEndpointsContributor contributor:
                    contributor.WriteEndpoints(endpoints);
                    break;
                case { ConnectionString: { } connectionString }:
                    endpoints[resource.Name] = connectionString;
                    break;
            }
        }

        var temporary = EndpointsFile + ".tmp";
        File.WriteAllText(temporary, endpoints.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temporary, EndpointsFile, overwrite: true);
    }

    private void PrintStatus(TimeSpan elapsed)
    {
        var rows = _order.Select(r => (r.Name, State: r.IsExternal ? "external" : r.State.ToString().ToLowerInvariant(), Display: r.Display ?? "")).ToList();
        var nameWidth = Math.Max(8, rows.Max(r => r.Name.Length));
        var stateWidth = Math.Max(5, rows.Max(r => r.State.Length));
        _context.Log("apphost", $"All resources are up in {elapsed.TotalSeconds:0.0} s:");
        _context.Log("apphost", $"  {"RESOURCE".PadRight(nameWidth)}  {"STATE".PadRight(stateWidth)}  URL / CONNECTION");
        foreach (var (name, state, display) in rows)
        {
            _context.Log("apphost", $"  {name.PadRight(nameWidth)}  {state.PadRight(stateWidth)}  {display}");
        }

        _context.Log("apphost", $"Endpoints and demo keys: {EndpointsFile}");
    }
}

/// <summary>A resource that writes its own entries into <c>endpoints.json</c>.</summary>
public interface IEndpointsContributor
{
    void WriteEndpoints(JsonObject endpoints);
}
