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
    private MockKafkaCluster? _mock;
    private string? _bootstrap;

    /// <summary>
    /// Topics the mock cluster starts with, since it never answers CreateTopics: Platform.Events'
    /// <c>EventTopics</c> (which the AppHost does not reference).
    /// </summary>
    public List<string> MockTopics { get; } = ["events", "events-dead-letter"];

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
            _bootstrap = StartMockCluster(context);
        }

        using var admin = new AdminClientBuilder(KafkaConfig.Admin(_bootstrap!)).SetLogHandler((_, _) => { }).Build();
        await Probe.UntilHealthyAsync(Name, null, _ => Task.FromResult(admin.GetMetadata(TimeSpan.FromSeconds(2)).Brokers.Count > 0), cancellationToken);
    }

    public override Task StopAsync(ResourceContext context)
    {
        _mock?.Dispose();
        _mock = null;
        return Task.CompletedTask;
    }

    /// <summary>Takes the mock cluster's broker down: connections close and new ones are refused (for outage tests).</summary>
    public void SetBrokerDown() => RunningMock().SetBrokerDown(MockKafkaCluster.FirstBrokerId);

    public void SetBrokerUp() => RunningMock().SetBrokerUp(MockKafkaCluster.FirstBrokerId);

    /// <summary>Makes the mock cluster's broker answer every request this much later (for slow-network tests).</summary>
    public void SetBrokerRoundTripTime(TimeSpan rtt) => RunningMock().SetBrokerRoundTripTime(MockKafkaCluster.FirstBrokerId, rtt);

    /// <summary>
    /// The mock cluster refuses the next <paramref name="count"/> offset commits, whoever sends them, with a
    /// permanent error (OFFSET_METADATA_TOO_LARGE): the committing client sees the commit fail (for tests).
    /// </summary>
    public void FailOffsetCommits(int count) => RunningMock().FailRequests(apiKey: 8, count, error: 12);

    private MockKafkaCluster RunningMock() => _mock ?? throw new InvalidOperationException(IsExternal
        ? $"{Name} is an external Kafka cluster; only the in-memory mock cluster can be taken down or slowed from here."
        : $"{Name} is not running.");

    private string StartMockCluster(ResourceContext context)
    {
        if (!File.Exists("/usr/lib/x86_64-linux-gnu/librdkafka.so.1") && !File.Exists("/usr/lib/aarch64-linux-gnu/librdkafka.so.1"))
        {
            throw new MissingDependencyException("librdkafka is not installed. Install it with: sudo apt-get install -y librdkafka1 (or run ./scripts/install-deps).");
        }

        _mock?.Dispose();
        _mock = MockKafkaCluster.Start(brokers: 1);
        foreach (var topic in MockTopics)
        {
            _mock.CreateTopic(topic, KafkaTopics.DefaultPartitions);
        }

        context.Log(Name, $"Mock cluster on {_mock.BootstrapServers} with topics {string.Join(", ", MockTopics)} ({KafkaTopics.DefaultPartitions} partitions each).");
        return _mock.BootstrapServers;
    }
}
