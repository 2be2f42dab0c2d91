using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Platform.Events;
using Platform.Kafka;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>Writes records straight to the events topic, past the Collector's checks, as a broken or hostile producer would.</summary>
public sealed class EventsTopicWriter(PlatformFixture platform) : IDisposable
{
    private readonly IProducer<byte[], byte[]> _producer =
        new ProducerBuilder<byte[], byte[]>(KafkaConfig.Producer(KafkaConfig.Bootstrap(platform.App["kafka"].ConnectionString!), "tests"))
            .SetLogHandler((_, _) => { }).Build();

    /// <summary>A collected event of user u1, as the Collector would have made it.</summary>
    public static CollectedEvent Event(string tenantId, string id, DateTimeOffset at) => new()
    {
        TenantId = tenantId, EventId = id, Event = "produced", UserId = "u1", Timestamp = at, ReceivedAt = DateTimeOffset.UtcNow,
    };

    public static string Json(CollectedEvent e) => JsonSerializer.Serialize(e, EventJsonContext.Default.CollectedEvent);

    public Task<DeliveryResult<byte[], byte[]>> WriteAsync(string key, string value) =>
        _producer.ProduceAsync(EventTopics.Events, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(key), Value = Encoding.UTF8.GetBytes(value) });

    public void Dispose() => _producer.Dispose();
}
