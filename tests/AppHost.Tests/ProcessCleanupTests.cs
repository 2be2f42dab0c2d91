using AppHost.Hosting;

namespace AppHost.Tests;

public sealed class ProcessCleanupTests : IDisposable
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), "cleanup-test-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task ARunAfterACrashStopsWhatTheCrashedRunLeftRunning()
    {
        using var logs = new LogSink(Path.Combine(_state, "logs"), writeToConsole: false);
        var crashedRun = new ProcessTracker(_state);
        // A child that a crashed AppHost never stopped.
        var orphan = ChildProcess.Start("orphan", new ProcessSpec("sleep", ["300"], _state), logs, crashedRun);
        Assert.True(Posix.IsAlive(orphan.Id));

        var stopped = await new ProcessTracker(_state).CleanUpAsync();

        Assert.Single(stopped);
        Assert.True(await Posix.WaitForExitAsync(orphan.Id, TimeSpan.FromSeconds(5)));
        Assert.Empty(Directory.GetFiles(Path.Combine(_state, "pids")));
    }

    [Fact]
    public async Task APidReusedByAnotherProgramIsNotSignalled()
    {
        using var logs = new LogSink(Path.Combine(_state, "logs"), writeToConsole: false);
        var tracker = new ProcessTracker(_state);
        await using var bystander = ChildProcess.Start("bystander", new ProcessSpec("sleep", ["300"], _state), logs, tracker);
        // The record names the same PID but an earlier start time: the PID was reused by another program.
        File.WriteAllText(Path.Combine(_state, "pids", "bystander.json"),
            $$"""{"pid": {{bystander.Id}}, "start_time": {{Posix.StartTime(bystander.Id) - 100}}, "stop_signal": 15, "command_line": "clickhouse-server --config-file=/gone"}""");

        var stopped = await new ProcessTracker(_state).CleanUpAsync();

        Assert.Empty(stopped);
        Assert.False(bystander.HasExited);
    }

    [Fact]
    public async Task StoppingAChildSendsItsStopSignalAndForgetsIt()
    {
        using var logs = new LogSink(Path.Combine(_state, "logs"), writeToConsole: false);
        var tracker = new ProcessTracker(_state);
        var child = ChildProcess.Start("child", new ProcessSpec("sh", ["-c", "trap 'echo got-term; exit 0' TERM; while true; do sleep 0.1; done"], _state), logs, tracker);
        await Task.Delay(300);

        await child.StopAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(0, child.ExitCode);
        Assert.Contains(logs.Tail("child", 5), line => line.EndsWith("got-term", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(_state, "pids", "child.json")));
    }

    [Fact]
    public async Task AChildThatIgnoresItsStopSignalIsKilledAfterTheGracePeriod()
    {
        using var logs = new LogSink(Path.Combine(_state, "logs"), writeToConsole: false);
        var child = ChildProcess.Start("stubborn", new ProcessSpec("sh", ["-c", "trap '' TERM; while true; do sleep 0.1; done"], _state), logs, new ProcessTracker(_state));
        await Task.Delay(300);

        await child.StopAsync(TimeSpan.FromMilliseconds(500));

        Assert.True(child.HasExited);
    }

    [Fact]
    public async Task ChildrenRunInTheirOwnSessionSoATerminalSignalReachesOnlyTheAppHost()
    {
        using var logs = new LogSink(Path.Combine(_state, "logs"), writeToConsole: false);
        await using var child = ChildProcess.Start("session", new ProcessSpec("sleep", ["300"], _state), logs, new ProcessTracker(_state));
        await Task.Delay(200);

        var fields = Posix.StatFields(child.Id)!;

        Assert.Equal(child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), fields[3]); // session id: its own
        Assert.Equal("sleep 300", Posix.CommandLine(child.Id)); // setsid exec'd in place: same PID, the real program
    }

    [Fact]
    public async Task AnotherLiveAppHostOnTheSameStateFolderIsDetected()
    {
        using var logs = new LogSink(Path.Combine(_state, "logs"), writeToConsole: false);
        var tracker = new ProcessTracker(_state);
        await using var otherHost = ChildProcess.Start(ProcessTracker.OwnerRecord, new ProcessSpec("sleep", ["300"], _state), logs, tracker);

        Assert.True(new ProcessTracker(_state).IsOwnedByLiveHost(out var owner));
        Assert.Equal(otherHost.Id, owner);
    }

    [Fact]
    public async Task TheTestStateCleanerLeavesYoungFoldersAloneEvenWhenTheirAppHostIsDead()
    {
        var root = Path.Combine(_state, "root");
        var folder = Path.Combine(root, "just-killed");
        using var logs = new LogSink(Path.Combine(_state, "logs"), writeToConsole: false);
        var owner = ChildProcess.Start(ProcessTracker.OwnerRecord, new ProcessSpec("true", [], _state), logs, new ProcessTracker(folder));
        await owner.Exited; // an AppHost that was killed: its record names a dead process

        await ProcessTracker.CleanUpAbandonedAsync(root, minimumAge: TimeSpan.FromMinutes(10));
        Assert.True(Directory.Exists(folder), "a young folder may be about to be reused by a restarted AppHost");

        await ProcessTracker.CleanUpAbandonedAsync(root, minimumAge: TimeSpan.Zero);
        Assert.False(Directory.Exists(folder));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_state, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
