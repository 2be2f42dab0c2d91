using System.Diagnostics;

namespace AppHost.Hosting;

/// <summary>What to run for a resource: program, arguments, working folder and environment.</summary>
public sealed record ProcessSpec(string FileName, IReadOnlyList<string> Arguments, string WorkingDirectory)
{
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>The signal that asks this program to shut down cleanly (PostgreSQL: SIGINT, "fast" shutdown).</summary>
    public int StopSignal { get; init; } = Posix.SigTerm;

    public string CommandLine => string.Join(' ', new[] { FileName }.Concat(Arguments));
}

/// <summary>
/// A process the AppHost started: its output goes to the log sink, its id to a PID record (so a
/// later run can clean up after a crash), and it is stopped with its own stop signal, then killed.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ProcessSpec _spec;
    private readonly ProcessTracker _tracker;
    private readonly string _name;

    private ChildProcess(string name, Process process, ProcessSpec spec, ProcessTracker tracker)
    {
        _name = name;
        _process = process;
        _spec = spec;
        _tracker = tracker;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public Task Exited => _process.WaitForExitAsync();

    public static ChildProcess Start(string name, ProcessSpec spec, LogSink logs, ProcessTracker tracker)
    {
        // setsid gives the child its own session: a Ctrl-C in the terminal reaches only the AppHost,
        // which then stops services before the servers they use. It execs in place, keeping the PID.
        var info = new ProcessStartInfo("setsid")
        {
            WorkingDirectory = spec.WorkingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(spec.FileName);
        foreach (var argument in spec.Arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in spec.Environment)
        {
            info.Environment[key] = value;
        }

        PosixDescriptors.MarkAllCloseOnExec();
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                logs.Write(name, e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                logs.Write(name, e.Data, isError: true);
            }
        };

        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {spec.FileName}.");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        tracker.Record(name, process.Id, spec.StopSignal);
        return new ChildProcess(name, process, spec, tracker);
    }

    /// <summary>Asks the process to stop; kills it if it has not ended within the grace period.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!_process.HasExited)
        {
            Posix.Signal(_process.Id, _spec.StopSignal);
            try
            {
                await _process.WaitForExitAsync().WaitAsync(grace);
            }
            catch (TimeoutException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }

        _tracker.Forget(_name);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }
}
