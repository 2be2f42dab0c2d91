using AppHost.Hosting;
using Microsoft.Extensions.Configuration;

namespace AppHost.Tests;

/// <summary>Builders for tests that inspect the model without starting it.</summary>
internal static class ModelBuilder
{
    public static DistributedApplicationBuilder Create(Dictionary<string, string?>? configuration = null, bool demo = true) =>
        new(new AppHostOptions { StateDirectory = Path.Combine(Path.GetTempPath(), "unused-state"), PreferFixedPorts = false, ConsoleLogs = false, Demo = demo },
            new ConfigurationBuilder().AddInMemoryCollection(configuration ?? []).Build());

    public static ResourceContext Context(DistributedApplicationBuilder builder) =>
        new(builder.Options, builder.Configuration, new LogSink(Path.Combine(Path.GetTempPath(), "unused-logs-" + Guid.NewGuid().ToString("N")), false),
            new ProcessTracker(builder.Options.StateDirectory), new PortAllocator(false));
}
