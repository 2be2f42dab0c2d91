using System.Text.Json;

namespace AppHost.Hosting;

/// <summary>
/// PID records in <c>STATE/pids/</c>: one per process the AppHost started, plus one for the AppHost.
/// A run that finds records of a run that is gone (crashed, killed) stops those processes first, so
/// nothing is left behind and nothing holds the ports or data folders.
/// </summary>
public sealed class ProcessTracker(string stateDirectory)
{
    public const string OwnerRecord = "apphost";

    private readonly string _directory = Path.Combine(stateDirectory, "pids");

    public void Record(string name, int pid, int stopSignal)
    {
        Directory.CreateDirectory(_directory);
        var record = new PidRecord(pid, Posix.StartTime(pid), stopSignal, Posix.CommandLine(pid));
        File.WriteAllText(PathOf(name), JsonSerializer.Serialize(record, HostingJsonContext.Default.PidRecord));
    }

    public void Forget(string name)
    {
        try
        {
            File.Delete(PathOf(name));
        }
        catch (DirectoryNotFoundException)
        {
            // The state folder is gone already: nothing left to forget.
        }
    }

    /// <summary>True when another live AppHost owns this state folder.</summary>
    public bool IsOwnedByLiveHost(out int ownerPid)
    {
        ownerPid = 0;
        var record = Read(PathOf(OwnerRecord));
        if (record is null || record.Pid == Environment.ProcessId)
        {
            return false;
        }

        ownerPid = record.Pid;
        return IsSameProcess(record);
    }

    /// <summary>Stops every recorded process that is still alive and is still the program recorded; returns what it stopped.</summary>
    public async Task<IReadOnlyList<string>> CleanUpAsync()
    {
        var stopped = new List<string>();
        if (!Directory.Exists(_directory))
        {
            return stopped;
        }

        foreach (var file in Directory.GetFiles(_directory, "*.json"))
        {
            var name = Path.GetFileNameWithoutExtension(file);
            var record = Read(file);
            if (name != OwnerRecord && record is not null && IsSameProcess(record))
            {
                Posix.Signal(record.Pid, record.StopSignal);
                if (!await Posix.WaitForExitAsync(record.Pid, TimeSpan.FromSeconds(15)))
                {
                    Posix.Signal(record.Pid, Posix.SigKill);
                    await Posix.WaitForExitAsync(record.Pid, TimeSpan.FromSeconds(5));
                }

                stopped.Add($"{name} (pid {record.Pid})");
            }

            File.Delete(file);
        }

        return stopped;
    }

    /// <summary>
    /// Cleans the state folders under <paramref name="root"/> whose AppHost is gone (used by test runs).
    /// Only folders older than <paramref name="minimumAge"/> are considered: a young folder may have
    /// no owner yet, or be between a deliberately killed AppHost and its restart.
    /// </summary>
    public static async Task CleanUpAbandonedAsync(string root, TimeSpan minimumAge)
    {
        if (!Directory.Exists(root))
        {
            return;
        }

        foreach (var state in Directory.GetDirectories(root))
        {
            var tracker = new ProcessTracker(state);
            var owner = Read(tracker.PathOf(OwnerRecord));
            var abandoned = DateTime.UtcNow - Directory.GetCreationTimeUtc(state) > minimumAge
                && (owner is null || !IsSameProcess(owner));
            if (abandoned)
            {
                await tracker.CleanUpAsync();
                TryDelete(state);
            }
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    // A PID can be reused by an unrelated program; only signal it if it is still the process that was started then.
    private static bool IsSameProcess(PidRecord record) =>
        Posix.IsAlive(record.Pid) && record.StartTime > 0 && Posix.StartTime(record.Pid) == record.StartTime;

    private static PidRecord? Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), HostingJsonContext.Default.PidRecord);
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private string PathOf(string name) => Path.Combine(_directory, name + ".json");
}

/// <summary>A started process: its id, its start time (to tell it from a later process reusing the id), how to stop it, and what it was.</summary>
public sealed record PidRecord(int Pid, long StartTime, int StopSignal, string CommandLine);
