using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace AppHost.Lifecycle;

/// <summary>
/// The processes behind resources, as the AppHost and tests stop them: SIGTERM (the service shuts down
/// cleanly and exits 0, which the supervisor leaves alone), SIGKILL to the whole process tree after a
/// grace period. DCP's own stop gives up after ~15 s while a <c>dotnet run</c> service is still shutting
/// down, and after the AppHost exits it finishes stopping servers in the background; an orderly stop
/// must not leave that to it.
/// </summary>
public static class ResourceProcess
{
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    public static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(15);

    // Processes stopped on purpose: one that needed SIGKILL after its grace period exits non-zero, like a crash.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, bool> AskedToStop = new();

    /// <summary>Stops a running resource; false when it was not running.</summary>
    public static async Task<bool> StopAsync(ResourceNotificationService notifications, string name, CancellationToken cancellationToken = default)
    {
        var current = await notifications.WaitForResourceAsync(name, _ => true, cancellationToken);
        if (ProcessId(current.Snapshot) is not { } pid || current.Snapshot.State?.Text != KnownResourceStates.Running)
        {
            return false;
        }

        await StopTreeAsync(pid, SigTerm);
        await notifications.WaitForResourceAsync(name, e => e.Snapshot.State?.Text is "Finished" or "Terminated" or "Exited", cancellationToken);
        return true;
    }

    /// <summary>Signals <paramref name="pid"/>, waits up to <see cref="GracePeriod"/>, then SIGKILLs it and what it started.</summary>
    public static async Task StopTreeAsync(int pid, int signal)
    {
        var tree = Descendants(pid).Prepend(pid).ToList();
        AskedToStop[pid] = true;
        Signal(pid, signal);
        var deadline = DateTime.UtcNow + GracePeriod;
        while (IsAlive(pid) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        foreach (var process in Enumerable.Reverse(tree).Where(IsAlive))
        {
            Signal(process, SigKill);
        }
    }

    /// <summary>
    /// Stops processes an AppHost that was killed left running for a resource: those whose command line
    /// names <paramref name="marker"/> (the resource's own folder in the state folder).
    /// </summary>
    public static async Task StopLeftoversAsync(ILogger logger, string marker, int signal)
    {
        foreach (var pid in Processes().Where(p => CommandLine(p).Contains(marker, StringComparison.Ordinal)))
        {
            logger.LogWarning("Stopping a process (pid {Pid}) left running by an earlier run: {CommandLine}", pid, CommandLine(pid));
            await StopTreeAsync(pid, signal);
        }
    }

    /// <summary>True when the snapshot's process ended because the AppHost or a test stopped it.</summary>
    public static bool WasAskedToStop(CustomResourceSnapshot snapshot) => ProcessId(snapshot) is { } pid && AskedToStop.ContainsKey(pid);

    /// <summary>The process DCP started for the resource, from its snapshot's <c>executable.pid</c>.</summary>
    public static int? ProcessId(CustomResourceSnapshot snapshot) =>
        snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value is { } value && int.TryParse(value.ToString(), out var pid) && pid > 0
            ? pid
            : null;

    public static void Signal(int pid, int signal) => _ = kill(pid, signal);

    public static IEnumerable<int> Descendants(int pid)
    {
        foreach (var child in Processes().Where(p => ParentOf(p) == pid))
        {
            yield return child;
            foreach (var grandchild in Descendants(child))
            {
                yield return grandchild;
            }
        }
    }

    private static bool IsAlive(int pid) => Stat(pid) is { } stat && stat[0] != "Z";

    public static int? ParentOf(int pid) => Stat(pid) is { } stat ? int.Parse(stat[1], CultureInfo.InvariantCulture) : null;

    /// <summary>/proc/PID/stat after "pid (comm) ": state, ppid, ...; comm may hold spaces, so read after the last ')'.</summary>
    private static string[]? Stat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The process's arguments joined by spaces; empty once it has gone.</summary>
    public static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>Every process on the machine but this one.</summary>
    public static IEnumerable<int> Processes() =>
        Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 0 && pid != Environment.ProcessId);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
