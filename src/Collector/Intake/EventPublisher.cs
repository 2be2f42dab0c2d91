using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Platform.Events;

namespace Collector.Intake;

/// <summary>
/// Produces accepted events to Kafka and waits for the brokers' acknowledgement, so that a 2xx
/// answer means the events are durably stored. Keyed by tenant and user: one user's events stay in
/// one partition, in order.
/// </summary>
public sealed class EventPublisher(IProducer<byte[], byte[]> producer, IOptions<CollectorOptions> options)
{
    /// <summary>True when Kafka acknowledged every event within the bound; false when it may not have.</summary>
    public async Task<bool> PublishAsync(IReadOnlyList<CollectedEvent> events, CancellationToken cancellationToken)
    {
        var deliveries = new Task[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            var message = new Message<byte[], byte[]>
            {
                Key = Encoding.UTF8.GetBytes($"{e.TenantId}:{(e.UserId.Length > 0 ? e.UserId : e.AnonymousId)}"),
                Value = JsonSerializer.SerializeToUtf8Bytes(e, EventJsonContext.Default.CollectedEvent),
            };
            deliveries[i] = producer.ProduceAsync(EventTopics.Events, message, CancellationToken.None);
        }

        try
        {
            await Task.WhenAll(deliveries).WaitAsync(options.Value.AcknowledgeTimeout, cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is TimeoutException or ProduceException<byte[], byte[]> or KafkaException)
        {
            return false;
        }
    }
}
