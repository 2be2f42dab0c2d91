using Confluent.Kafka;
using Platform.Kafka;

namespace AppHost.Hosting;

/// <summary>
/// A Kafka broker: librdkafka's in-memory mock cluster hosted inside the AppHost process (no Kafka
/// server is packaged here; it keeps nothing on disk), or an existing cluster named by
/// <c>ConnectionStrings:kafka</c>.
/// </summary>
public sealed class KafkaResource(string name) : Resource(name)
{
    private IProducer<Null, Null>? _mockHost;
    private string? _bootstrap;

    public override string? ConnectionString => _bootstrap;

    public override string? Display => _bootstrap is null ? null : $"{_bootstrap}{(IsExternal ? "" : " (in-memory mock cluster)")}";

    public override void AllocatePorts(ResourceContext context)
    {
        if (context.Configuration.GetConnectionString(Name) is { Length: > 0 } external)
        {
            IsExternal = true;
            _bootstrap = KafkaConfig.Bootstrap(external);
        }
    }

    public override async Task StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        KafkaNativeLibrary.EnsureRegistered();
        if (!IsExternal)
        {
            _bootstrap = await StartMockClusterAsync(context, cancellationToken);
        }

        using var admin = new AdminClientBuilder(KafkaConfig.Admin(_bootstrap!)).SetLogHandler((_, _) => { }).Build();
        await Probe.UntilHealthyAsync(Name, null, _ => Task.FromResult(admin.GetMetadata(TimeSpan.FromSeconds(2)).Brokers.Count > 0), cancellationToken);
    }

    public override Task StopAsync(ResourceContext context)
    {
        _mockHost?.Dispose();
        _mockHost = null;
        return Task.CompletedTask;
    }

    private async Task<string> StartMockClusterAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (!File.Exists("/usr/lib/x86_64-linux-gnu/librdkafka.so.1") && !File.Exists("/usr/lib/aarch64-linux-gnu/librdkafka.so.1"))
        {
            throw new MissingDependencyException("librdkafka is not installed. Install it with: sudo apt-get install -y librdkafka1 (or run ./scripts/install-deps).");
        }

        // librdkafka announces the mock brokers' address in one log line; that line is our only source for it.
        var announced = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var config = new ProducerConfig { BootstrapServers = "mock:9092", ClientId = "apphost-mock-cluster" };
        config.Set("test.mock.num.brokers", "1");
        _mockHost = new ProducerBuilder<Null, Null>(config)
            .SetLogHandler((_, message) =>
            {
                const string marker = "replaced with ";
                var at = message.Message.IndexOf(marker, StringComparison.Ordinal);
                if (message.Facility == "MOCK" && at >= 0)
                {
                    announced.TrySetResult(message.Message[(at + marker.Length)..].Trim());
                }

                context.Log(Name, $"{message.Facility}: {message.Message}");
            })
            .Build();
        return await announced.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
    }
}
