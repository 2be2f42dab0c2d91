using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace Platform.Kafka;

/// <summary>Makes sure the topics a component relies on exist, on brokers that auto-create topics and on those that do not.</summary>
public static class KafkaTopics
{
    public static async Task EnsureAsync(string bootstrap, IEnumerable<string> topics, int partitions, CancellationToken cancellationToken)
    {
        using var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();

        // Naming a topic in a metadata request lets an auto-creating broker create it (the development
        // mock cluster only works this way: it never answers CreateTopics). Only what is still missing
        // is created explicitly.
        var missing = topics
            .Where(topic => admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics
                .FirstOrDefault(t => t.Topic == topic) is not { Error.Code: ErrorCode.NoError, Partitions.Count: > 0 })
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
