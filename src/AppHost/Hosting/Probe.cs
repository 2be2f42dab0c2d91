namespace AppHost.Hosting;

/// <summary>Polling helpers shared by resources: wait for a health probe, find an installed program.</summary>
public static class Probe
{
    /// <summary>Polls until <paramref name="isHealthy"/> answers true; fails at once if the process has exited.</summary>
    public static async Task UntilHealthyAsync(string resource, ChildProcess? process, Func<CancellationToken, Task<bool>> isHealthy, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            if (process is { HasExited: true })
            {
                throw new ResourceFailedException(resource, $"{resource} exited with code {process.ExitCode} while starting.");
            }

            try
            {
                if (await isHealthy(cancellationToken))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Not up yet: connection refused, startup errors; keep polling until the timeout.
            }

            await Task.Delay(delay, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 1.5, 500));
        }
    }

    /// <summary>The first candidate that exists (absolute) or is on PATH; otherwise an error naming the Debian package.</summary>
    public static string FindProgram(string debianPackage, params string[] candidates)
    {
        foreach (var candidate in candidates)
        {
            if (Path.IsPathRooted(candidate))
            {
                if (File.Exists(candidate))
                {
                    return candidate;
                }

                continue;
            }

            foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                var path = Path.Combine(directory, candidate);
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }

        throw new MissingDependencyException(
            $"{candidates[0]} is not installed. Install it with: sudo apt-get install -y {debianPackage} (or run ./scripts/install-deps).");
    }
}
