using System.Runtime.InteropServices;

namespace AppHost.Lifecycle;

/// <summary>
/// Stops a resource that runs as a process the way an operator's SIGTERM does: the service shuts down
/// cleanly and exits 0, which the supervisor leaves alone. (DCP's own stop gives up after ~15 s
/// while a <c>dotnet run</c> service is still shutting down, and then reports the stop as failed.)
/// </summary>
public static class ResourceProcess
{
    public const int SigInt = 2;
    private const int SigTerm = 15;

    public static async Task<bool> StopAsync(ResourceNotificationService notifications, string name, TimeSpan timeout)
    {
        var current = await notifications.WaitForResourceAsync(name, _ => true);
        if (ProcessId(current.Snapshot) is not { } pid || current.Snapshot.State?.Text != KnownResourceStates.Running)
        {
            return false;
        }

        Signal(pid, SigTerm);
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await notifications.WaitForResourceAsync(name, e => e.Snapshot.State?.Text is "Finished" or "Terminated" or "Exited", cancel.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The process DCP started for the resource, from its snapshot's <c>executable.pid</c>.</summary>
    public static int? ProcessId(CustomResourceSnapshot snapshot) =>
        snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value is { } value && int.TryParse(value.ToString(), out var pid) && pid > 0
            ? pid
            : null;

    public static void Signal(int pid, int signal) => _ = kill(pid, signal);

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
