using System.Diagnostics;

namespace LoadGenerator.Platform;

/// <summary>The Transformer's own command line on the platform's ClickHouse, as an operator would run it after a bulk load.</summary>
public static class TransformerCommand
{
    /// <summary>Runs <c>Transformer ARGS</c> (the build beside this tool, same configuration) and returns how long it took; its output is shown when it fails.</summary>
    public static async Task<TimeSpan> RunAsync(string clickHouseConnection, TextWriter output, CancellationToken cancellationToken, params string[] args)
    {
        var bin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var root = bin;
        while (!File.Exists(Path.Combine(root.FullName, "Platform.sln")))
        {
            root = root.Parent ?? throw new DirectoryNotFoundException("The load generator runs outside the repository.");
        }

        var transformer = Path.Combine(root.FullName, "src", "Transformer", "bin", bin.Parent!.Name, bin.Name, "Transformer.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(transformer);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["ConnectionStrings__clickhouse"] = clickHouseConnection;
        var started = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {transformer}.");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
        {
            output.WriteLine(await stdout);
            output.WriteLine(await stderr);
            output.WriteLine($"warning: Transformer {string.Join(' ', args)} exited with {process.ExitCode}; model-backed answers may come from events.");
        }

        return started.Elapsed;
    }
}
