using Microsoft.Extensions.Logging.Abstractions;
using Platform.ClickHouse;
using Transformer.Models;
using Transformer.Runs;

namespace Transformer.Tests;

/// <summary>A temporary models folder a test writes its own model files into.</summary>
public sealed class ModelFolder : IDisposable
{
    public ModelFolder(string sources = "raw:\n  raw_events: {}\n")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "transformer-models-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
        File.WriteAllText(System.IO.Path.Combine(Path, "sources.yml"), sources);
    }

    public string Path { get; }

    public ModelFolder Add(string relativePath, string text)
    {
        var file = System.IO.Path.Combine(Path, relativePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        File.WriteAllText(file, text);
        return this;
    }

    public ModelProject Load() => ModelProject.Load(Path);

    public ModelRunner Runner(ClickHouseClient client, TimeProvider time, TransformerOptions? options = null) =>
        new(client, Load(), options ?? new TransformerOptions(), time, NullLogger<ModelRunner>.Instance);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
