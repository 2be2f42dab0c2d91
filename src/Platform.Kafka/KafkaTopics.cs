using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace Platform.Kafka;

/// <summary>Creates topics a component relies on, so a cluster that does not auto-create topics works too.</summary>
public static class KafkaTopics
{
    public static async Task EnsureAsync(string bootstrap, IEnumerable<string> topics, int partitions, CancellationToken cancellationToken)
    {
        using var admin = new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();
        var existing = admin.GetMetadata(TimeSpan.FromSeconds(10)).Topics.Where(t => t.Error.Code == ErrorCode.NoError).Select(t => t.Topic).ToHashSet();
        var missing = topics.Where(t => !existing.Contains(t))
            .Select(t => new TopicSpecification { Name = t, NumPartitions = partitions, ReplicationFactor = -1 })
            .ToList();
        if (missing.Count == 0)
        {
            return;
        }

        try
        {
            await admin.CreateTopicsAsync(missing).WaitAsync(cancellationToken);
        }
        catch (CreateTopicsException ex) when (ex.Results.All(r => r.Error.Code is ErrorCode.NoError or ErrorCode.TopicAlreadyExists))
        {
            // Another replica created them first.
        }
    }
}
