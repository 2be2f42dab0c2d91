
namespace Platform.Testing;

/// <summary>State folders for test runs: one per fixture under one root, so a crashed run's leftovers are found and cleaned.</summary>
public static class TestState
{
    public static string Root => Path.Combine(Path.GetTempPath(), "platform-tests");

    public static async Task<string> NewDirectoryAsync(string purpose)
    {
        // DCP stops what a test run started even when the run is killed; only the folders are left to sweep.
        foreach (var old in Directory.Exists(Root) ? Directory.GetDirectories(Root) : [])
        {
            if (Directory.GetLastWriteTimeUtc(old) < DateTime.UtcNow.AddHours(-6))
            {
                Delete(old);
            }
        }

        await Task.CompletedTask;
        var directory = Path.Combine(Root, $"{purpose}-{DateTime.UtcNow:HHmmss}-{Guid.NewGuid().ToString("N")[..6]}");
        Directory.CreateDirectory(directory);
        return directory;
    }

    public static void Delete(string directory)
    {
        if (Environment.GetEnvironmentVariable("PLATFORM_KEEP_TEST_STATE") == "1")
        {
            return;
        }

        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
