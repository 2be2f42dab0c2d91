using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace Platform.Kafka;

/// <summary>Makes sure the topics a component relies on exist, with the partition count it asks for.</summary>
public static class KafkaTopics
{
    /// <summary>Partitions of the platform's topics: the development mock cluster's and the Ingestor's default.</summary>
    public const int DefaultPartitions = 16;

    public static async Task EnsureAsync(string bootstrap, IEnumerable<string> topics, int partitions, CancellationToken cancellationToken)
    {
        using var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();

        // Ask for every topic rather than naming ours: a metadata request naming a missing topic makes an
        // auto-creating broker create it with the broker's partition count, not ours. (The development
        // mock cluster has its topics from the AppHost; it never answers CreateTopics.)
        var existing = admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics
            .Where(t => t.Error.Code == ErrorCode.NoError && t.Partitions.Count > 0)
            .Select(t => t.Topic)
            .ToHashSet();
        var missing = topics
            .Where(topic => !existing.Contains(topic))
            .Select(topic => new TopicSpecification { Name = topic, NumPartitions = partitions, ReplicationFactor = -1 })
            .ToList();
        if (missing.Count == 0)
        {
            return;
        }

        try
        {
            await admin.CreateTopicsAsync(missing, new CreateTopicsOptions { RequestTimeout = TimeSpan.FromSeconds(15) }).WaitAsync(cancellationToken);
        }
        catch (CreateTopicsException ex) when (ex.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
            // Another replica created them first.
        }
    }
}
