using AppHost.Hosting;

namespace AppHost.Publishing;

/// <summary>
/// <c>publish [--output DIR]</c>: writes docker-compose and Kubernetes files for the declared model
/// instead of running it (default <c>deploy/generated</c> at the repository root).
/// </summary>
public static class PublishCommand
{
    public static string DefaultOutput => Path.Combine(BuildInfo.RepositoryRoot, "deploy", "generated");

    public static async Task<int> RunAsync(DistributedApplicationBuilder builder, string[] args)
    {
        var output = Path.GetFullPath(OutputArgument(args) ?? DefaultOutput);
        IReadOnlyDictionary<string, string> files;
        try
        {
            files = Generate(builder.Resources, output);
        }
        catch (NotSupportedException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 1;
        }

        foreach (var stale in StaleFiles(output, files.Keys))
        {
            File.Delete(stale);
            Console.WriteLine($"removed {Path.GetRelativePath(output, stale)}");
        }

        foreach (var (path, content) in files)
        {
            var file = Path.Combine(output, path);
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await File.WriteAllTextAsync(file, content);
            Console.WriteLine($"wrote   {Path.Combine(output, path)}");
        }

        return 0;
    }

    /// <summary>Every file a publish to <paramref name="outputDirectory"/> writes, by relative path with '/' separators.</summary>
    public static IReadOnlyDictionary<string, string> Generate(IReadOnlyList<Resource> resources, string outputDirectory)
    {
        var model = DeploymentModel.From(resources);
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (path, content) in ComposePublisher.Publish(model, outputDirectory, BuildInfo.RepositoryRoot)
                     .Concat(KubernetesPublisher.Publish(model)))
        {
            files.Add(path, content);
        }

        return files;
    }

    /// <summary>Generated files a resource removed from the model left behind; only files carrying the generated notice are touched.</summary>
    public static IEnumerable<string> StaleFiles(string outputDirectory, IEnumerable<string> generated)
    {
        if (!Directory.Exists(outputDirectory))
        {
            return [];
        }

        var keep = generated.Select(p => Path.GetFullPath(Path.Combine(outputDirectory, p))).ToHashSet();
        return Directory.EnumerateFiles(outputDirectory, "*", SearchOption.AllDirectories)
            .Where(f => !keep.Contains(f) && File.ReadLines(f).Take(2).Any(line => line.Contains(Generated.Notice, StringComparison.Ordinal)))
            .ToList();
    }

    private static string? OutputArgument(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--output" && i + 1 < args.Length)
            {
                return args[i + 1];
            }

            if (args[i].StartsWith("--output=", StringComparison.Ordinal))
            {
                return args[i]["--output=".Length..];
            }
        }

        return null;
    }
}
