using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Platform.Kafka;

namespace AppHost.Infrastructure;

/// <summary>
/// The development Kafka broker: librdkafka's in-memory mock cluster, hosted inside the AppHost
/// process (no Kafka server is packaged here). It keeps nothing on disk, so an orderly stop drains it
/// first (see <c>Lifecycle/OrderlyStop</c>); production points <c>ConnectionStrings:kafka</c> at a real cluster.
/// </summary>
public sealed class KafkaDevBrokerResource(string name, IReadOnlyList<string> topics)
    : Resource(name), IResourceWithConnectionString, IResourceWithWaitSupport, IDisposable
{
    private MockKafkaCluster? _cluster;

    /// <summary>Created up front, since the mock cluster never answers CreateTopics.</summary>
    public IReadOnlyList<string> Topics { get; } = topics;

    public string? BootstrapServers => _cluster?.BootstrapServers;

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{new BootstrapValue(this)}");

    internal void Start()
    {
        _cluster?.Dispose();
        _cluster = MockKafkaCluster.Start(brokers: 1);
        foreach (var topic in Topics)
        {
            _cluster.CreateTopic(topic, KafkaTopics.DefaultPartitions);
        }
    }

    /// <summary>Takes the broker down: connections close and new ones are refused (for outage drills).</summary>
    public void SetBrokerDown() => Running().SetBrokerDown(MockKafkaCluster.FirstBrokerId);

    public void SetBrokerUp() => Running().SetBrokerUp(MockKafkaCluster.FirstBrokerId);

    /// <summary>
    /// What a restart of the broker's host does to the dev broker: down for <paramref name="downtime"/>, then up at
    /// the same address holding nothing (every topic recreated empty, committed offsets gone). For drills.
    /// </summary>
    public async Task RestartEmptyAsync(TimeSpan downtime)
    {
        var cluster = Running();
        Dictionary<string, int> topics;
        using (var admin = new AdminClientBuilder(KafkaConfig.Admin(BootstrapServers!)).SetLogHandler((_, _) => { }).Build())
        {
            // Topics clients created by naming them too, not only those created up front.
            topics = admin.GetMetadata(TimeSpan.FromSeconds(5)).Topics.ToDictionary(t => t.Topic, t => t.Partitions.Count);
        }

        SetBrokerDown();
        foreach (var (topic, partitions) in topics)
        {
            cluster.DeleteTopic(topic);
            cluster.CreateTopic(topic, partitions);
        }

        await Task.Delay(downtime);
        SetBrokerUp();
    }

    /// <summary>Makes the broker answer every request this much later (for slow-network tests).</summary>
    public void SetBrokerRoundTripTime(TimeSpan rtt) => Running().SetBrokerRoundTripTime(MockKafkaCluster.FirstBrokerId, rtt);

    /// <summary>The broker refuses the next <paramref name="count"/> offset commits with a permanent error (OFFSET_METADATA_TOO_LARGE).</summary>
    public void FailOffsetCommits(int count) => Running().FailRequests(apiKey: 8, count, error: 12);

    public void Dispose()
    {
        _cluster?.Dispose();
        _cluster = null;
    }

    private MockKafkaCluster Running() => _cluster ?? throw new InvalidOperationException($"{Name} is not running.");

    /// <summary>The broker's address, known once it runs (the mock cluster picks its own port).</summary>
    private sealed class BootstrapValue(KafkaDevBrokerResource broker) : IValueProvider, IManifestExpressionProvider
    {
        public string ValueExpression => $"{{{broker.Name}.connectionString}}";

        public ValueTask<string?> GetValueAsync(CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<string?>(broker.BootstrapServers ?? throw new InvalidOperationException($"{broker.Name} is not running yet."));
    }
}

/// <summary>Kafka in a deployment: a single-node KRaft broker from the apache/kafka image.</summary>
public sealed class KafkaContainerResource(string name) : ContainerResource(name), IResourceWithConnectionString
{
    public const int Port = 9092;
    public const int ControllerPort = 9093;

    public EndpointReference Broker => new(this, "tcp");

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{Broker.Property(EndpointProperty.HostAndPort)}");
}

public static class KafkaBuilderExtensions
{
    /// <summary>
    /// Kafka: an existing cluster when <c>ConnectionStrings:NAME</c> is set, a container when
    /// publishing, otherwise the in-memory dev broker inside the AppHost.
    /// </summary>
    public static IResourceBuilder<IResourceWithConnectionString> AddKafka(this IDistributedApplicationBuilder builder, string name, params string[] topics)
    {
        if (builder.ExecutionContext.IsPublishMode)
        {
            return builder.AddResource(new KafkaContainerResource(name))
                .WithImage("apache/kafka", "3.9.1")
                .WithEndpoint(targetPort: KafkaContainerResource.Port, name: "tcp", scheme: "tcp")
                .WithEnvironment("KAFKA_NODE_ID", "1")
                .WithEnvironment("KAFKA_PROCESS_ROLES", "broker,controller")
                .WithEnvironment("KAFKA_LISTENERS", "PLAINTEXT://:" + KafkaContainerResource.Port + ",CONTROLLER://:" + KafkaContainerResource.ControllerPort)
                .WithEnvironment("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://" + name + ":" + KafkaContainerResource.Port)
                .WithEnvironment("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
                .WithEnvironment("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT")
                .WithEnvironment("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:" + KafkaContainerResource.ControllerPort)
                .WithEnvironment("KAFKA_NUM_PARTITIONS", KafkaTopics.DefaultPartitions.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .WithEnvironment("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
                .WithEnvironment("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
                .WithEnvironment("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
                .WithEnvironment("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
                .WithEnvironment("KAFKA_LOG_DIRS", "/var/lib/kafka/data/logs")
                .WithVolume($"{name}-data", "/var/lib/kafka/data");
        }

        if (builder.Configuration.GetConnectionString(name) is { Length: > 0 })
        {
            return builder.AddConnectionString(name);
        }

        var broker = new KafkaDevBrokerResource(name, topics);
        builder.Services.AddHealthChecks().AddCheck($"{name}-answers", () =>
        {
            if (broker.BootstrapServers is not { } bootstrap)
            {
                return HealthCheckResult.Unhealthy("The dev broker is not running.");
            }

            using var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();
            try
            {
                return admin.GetMetadata(TimeSpan.FromSeconds(2)).Brokers.Count > 0 ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("No broker answered.");
            }
            catch (KafkaException ex)
            {
                return HealthCheckResult.Unhealthy(ex.Message);
            }
        });
        // Disposed with the AppHost's services, after every service has stopped.
        builder.Services.AddSingleton(_ => broker);

        return builder.AddResource(broker)
            .WithHealthCheck($"{name}-answers")
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "Kafka dev broker",
                State = KnownResourceStates.NotStarted,
                Properties = [],
            })
            .OnInitializeResource(async (resource, e, ct) =>
            {
                try
                {
                    resource.Start();
                    e.Logger.LogInformation("Mock cluster on {Bootstrap} with topics {Topics} ({Partitions} partitions each).",
                        resource.BootstrapServers, string.Join(", ", resource.Topics), KafkaTopics.DefaultPartitions);
                    await e.Notifications.PublishUpdateAsync(resource, s => s with
                    {
                        State = KnownResourceStates.Running,
                        StartTimeStamp = DateTime.UtcNow,
                        Properties = [.. s.Properties, new("kafka.bootstrap", resource.BootstrapServers)],
                    });
                    await e.Eventing.PublishAsync(new ConnectionStringAvailableEvent(resource, e.Services), ct);
                }
                catch (Exception ex) when (ex is InvalidOperationException or DllNotFoundException)
                {
                    e.Logger.LogError(ex, "The dev broker did not start.");
                    await e.Notifications.PublishUpdateAsync(resource, s => s with { State = KnownResourceStates.FailedToStart });
                }
            });
    }
}
