using System.Runtime.InteropServices;

namespace AppHost.Hosting;

/// <summary>The few POSIX calls .NET does not expose: sending a chosen signal to a process.</summary>
internal static partial class Posix
{
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;

    /// <summary>True when a process with this id exists (signal 0 probes without sending).</summary>
    public static bool IsAlive(int pid) => pid > 0 && (kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() == 1 /* EPERM: exists */);

    /// <summary>The command line of a live process, from /proc; empty when it is gone.</summary>
    public static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>
    /// When the process started, in clock ticks since boot (/proc/PID/stat field 22). It survives
    /// exec, so it identifies a process even while setsid/setpriv are still replacing themselves.
    /// </summary>
    public static long StartTime(int pid) =>
        StatFields(pid) is { Length: > 19 } fields && long.TryParse(fields[19], System.Globalization.CultureInfo.InvariantCulture, out var ticks)
            ? ticks
            : -1;

    /// <summary>True when the process is gone or has exited and awaits reaping.</summary>
    public static bool IsZombie(int pid) => StatFields(pid) is not [var state, ..] || state == "Z";

    /// <summary>
    /// The fields of /proc/PID/stat after the command name (index 0 is the state, 3 the session id,
    /// 19 the start time), or null when the process is gone. The name is cut at the last ')' because
    /// it may itself contain spaces and parentheses.
    /// </summary>
    public static string[]? StatFields(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Waits for a process to end, polling /proc (it may not be our child).</summary>
    public static async Task<bool> WaitForExitAsync(int pid, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (!IsAlive(pid) || IsZombie(pid))
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // DllImport keeps this free of the unsafe-code switch LibraryImport would want.
    private static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054
}

/// <summary>
/// Keeps the AppHost's own descriptors out of its children. .NET opens its files close-on-exec, but
/// native code in the process (librdkafka's mock brokers) does not: a service started later would
/// inherit the broker's sockets and keep dead connections open. Marking every descriptor above
/// stderr close-on-exec before a start is idempotent and cheap.
/// </summary>
internal static partial class PosixDescriptors
{
    private const int FGetFd = 1;
    private const int FSetFd = 2;
    private const int FdCloexec = 1;

    public static void MarkAllCloseOnExec()
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (int.TryParse(Path.GetFileName(entry), out var fd) && fd > 2)
            {
                var flags = fcntl(fd, FGetFd, 0);
                if (flags >= 0 && (flags & FdCloexec) == 0)
                {
                    fcntl(fd, FSetFd, flags | FdCloexec);
                }
            }
        }
    }

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054
    private static extern int fcntl(int fd, int cmd, int arg);
#pragma warning restore SYSLIB1054
}

internal static partial class PosixUser
{
    public static bool IsRoot => geteuid() == 0;

    [DllImport("libc")]
#pragma warning disable SYSLIB1054
    private static extern uint geteuid();
#pragma warning restore SYSLIB1054
}
