using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;

namespace AppHost.Lifecycle;

/// <summary>
/// Keeps <c>STATE/pids/NAME.json</c> (pid and command line) for the AppHost and every resource that
/// runs as a process, so tools outside it (the benchmark's CPU breakdown, an operator with ps) can
/// tell which process is which without asking the dashboard.
/// </summary>
internal sealed class ProcessRecords(ResourceNotificationService notifications, PlatformOptions options) : EarlyBackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var directory = Directory.CreateDirectory(Path.Combine(options.StateDirectory, "pids")).FullName;
        Write(directory, "apphost", Environment.ProcessId);
        try
        {
            await foreach (var change in notifications.WatchAsync(stoppingToken))
            {
                if (ResourceProcess.ProcessId(change.Snapshot) is { } pid)
                {
                    Write(directory, change.Resource.Name, pid);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static void Write(string directory, string name, int pid)
    {
        string commandLine;
        try
        {
            commandLine = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (IOException)
        {
            return; // already gone
        }

        var record = new JsonObject { ["pid"] = pid, ["command_line"] = commandLine };
        var file = Path.Combine(directory, name + ".json");
        File.WriteAllText(file + ".tmp", record.ToJsonString());
        File.Move(file + ".tmp", file, overwrite: true);
    }
}
