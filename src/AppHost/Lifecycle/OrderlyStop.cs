using AppHost.Infrastructure;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.Kafka;

namespace AppHost.Lifecycle;

/// <summary>
/// What SIGTERM or Ctrl-C does before Aspire stops the resources: the Collector stops first (it
/// answers 503 while it drains), then, since the dev broker keeps nothing, the Ingestor consumes and
/// stores what the broker still holds (starting it if it was stopped), for at most
/// <see cref="PlatformOptions.DrainTimeout"/>; what is left then is named in a warning.
/// </summary>
internal sealed class OrderlyStop(
    DistributedApplicationModel model,
    ResourceNotificationService notifications,
    ResourceCommandService commands,
    PlatformOptions options,
    TimeProvider time,
    ILogger<OrderlyStop> logger) : IHostedService
{
    /// <summary>The Ingestor's consumer groups and the topics each consumes (Ingestor:ConsumerGroup, Cdc:ConsumerGroup).</summary>
    private static readonly (string Group, Func<string, bool> Consumes)[] Consumers =
    [
        ("ingestor", topic => topic == "events"),
        ("ingestor-cdc", topic => topic.StartsWith("cdc.", StringComparison.Ordinal)),
    ];

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (model.Resources.OfType<KafkaDevBrokerResource>().FirstOrDefault() is { BootstrapServers: { } bootstrap })
        {
            await DrainAsync(bootstrap, cancellationToken); // a real Kafka keeps what it holds
        }

        // Everything stops before the AppHost exits: services first, then the servers they use.
        await Task.WhenAll(model.Resources.OfType<ProjectResource>().Select(p => ResourceProcess.StopAsync(notifications, p.Name, cancellationToken)));
        await Task.WhenAll(model.Resources.OfType<ExecutableResource>().Where(r => r is not IResourceWithParent)
            .Select(r => ResourceProcess.StopAsync(notifications, r.Name, cancellationToken)));
    }

    private async Task DrainAsync(string bootstrap, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.DrainTimeout);
        try
        {
            await StopAsync("collector", timeout.Token);
            await DrainBrokerAsync(bootstrap, timeout.Token);
        }
        catch (OperationCanceledException)
        {
            var left = Backlog(bootstrap);
            logger.LogWarning("The dev broker still holds {Count} records after {Seconds} s; they are lost with it: {Partitions}",
                left.Sum(l => l.Count), options.DrainTimeout.TotalSeconds, string.Join(", ", left.Select(l => $"{l.Group} {l.Partition}: {l.Count}")));
        }
    }

    private async Task StopAsync(string resource, CancellationToken cancellationToken)
    {
        if (Find(resource) is { } found && IsRunning(found))
        {
            logger.LogInformation("Stopping {Resource} first, so no event is accepted that could not be stored.", resource);
            await ResourceProcess.StopAsync(notifications, resource, cancellationToken);
        }
    }

    private async Task DrainBrokerAsync(string bootstrap, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var backlog = Backlog(bootstrap).Sum(l => l.Count);
        if (backlog == 0)
        {
            return;
        }

        if (Find("ingestor") is { } ingestor && !IsRunning(ingestor))
        {
            logger.LogInformation("The dev broker holds {Count} records and the Ingestor is stopped: starting it to store them.", backlog);
            await commands.ExecuteCommandAsync(ingestor, KnownResourceCommands.StartCommand, cancellationToken);
        }

        logger.LogInformation("Draining {Count} records from the dev broker before it stops.", backlog);
        while (Backlog(bootstrap).Sum(l => l.Count) > 0)
        {
            await Task.Delay(250, cancellationToken);
        }

        logger.LogInformation("The dev broker is drained ({Count} records stored in {Seconds:0.0} s).", backlog, time.GetElapsedTime(started).TotalSeconds);
    }

    /// <summary>Records the Ingestor's groups have not committed yet, per partition that has any.</summary>
    private static List<(string Group, TopicPartition Partition, long Count)> Backlog(string bootstrap)
    {
        var left = new List<(string, TopicPartition, long)>();
        using var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();
        var topics = admin.GetMetadata(TimeSpan.FromSeconds(5)).Topics;
        foreach (var (group, consumes) in Consumers)
        {
            var partitions = topics.Where(t => consumes(t.Topic)).SelectMany(t => t.Partitions.Select(p => new TopicPartition(t.Topic, p.PartitionId))).ToList();
            if (partitions.Count == 0)
            {
                continue;
            }

            using var consumer = new ConsumerBuilder<byte[], byte[]>(KafkaConfig.Consumer(bootstrap, group, "apphost-drain")).SetLogHandler((_, _) => { }).Build();
            foreach (var committed in consumer.Committed(partitions, TimeSpan.FromSeconds(5)))
            {
                var watermarks = consumer.QueryWatermarkOffsets(committed.TopicPartition, TimeSpan.FromSeconds(5));
                var done = committed.Offset.Value >= 0 ? committed.Offset.Value : watermarks.Low.Value;
                if (watermarks.High.Value - done > 0)
                {
                    left.Add((group, committed.TopicPartition, watermarks.High.Value - done));
                }
            }
        }

        return left;
    }

    private IResource? Find(string name) => model.Resources.FirstOrDefault(r => r.Name == name);

    private bool IsRunning(IResource resource) =>
        notifications.WaitForResourceAsync(resource.Name, _ => true).GetAwaiter().GetResult().Snapshot.State?.Text == KnownResourceStates.Running;
}
