using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using Platform.Events;

namespace Collector.Intake;

/// <summary>A refused event on its way to the dead-letter topic: what the client sent, and why it was refused.</summary>
public sealed record DeadLetter(string TenantId, int Index, string Field, string Reason, string Raw);

/// <summary>
/// Produces accepted events to Kafka and refused ones to the dead-letter topic, and waits for the
/// brokers' acknowledgement of both, so that an answer means every event of the request is durably
/// somewhere. Keyed by tenant and user: one user's events stay in one partition, in order.
/// </summary>
public sealed class EventPublisher(IProducer<byte[], byte[]> producer, IOptions<CollectorOptions> options, ILogger<EventPublisher> logger)
{
    /// <summary>True when Kafka acknowledged every record within the bound; false when it may not have.</summary>
    public async Task<bool> PublishAsync(IReadOnlyList<CollectedEvent> events, IReadOnlyList<DeadLetter> deadLetters, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        var deliveries = new Task[events.Count + deadLetters.Count];
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

        for (var i = 0; i < deadLetters.Count; i++)
        {
            deliveries[events.Count + i] = producer.ProduceAsync(EventTopics.DeadLetter, ToMessage(deadLetters[i], receivedAt), CancellationToken.None);
        }

        try
        {
            await Task.WhenAll(deliveries).WaitAsync(options.Value.AcknowledgeTimeout, cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is TimeoutException or ProduceException<byte[], byte[]> or KafkaException)
        {
            logger.LogWarning("Kafka did not acknowledge {Events} events and {DeadLetters} dead letters: {Error}", events.Count, deadLetters.Count, ex.Message);
            return false;
        }
    }

    private static Message<byte[], byte[]> ToMessage(DeadLetter deadLetter, DateTimeOffset receivedAt) => new()
    {
        Key = Encoding.UTF8.GetBytes(deadLetter.TenantId),
        Value = Encoding.UTF8.GetBytes(deadLetter.Raw),
        Headers = new Headers
        {
            { DeadLetterHeaders.Reason, Encoding.UTF8.GetBytes(deadLetter.Reason) },
            { DeadLetterHeaders.Field, Encoding.UTF8.GetBytes(deadLetter.Field) },
            { DeadLetterHeaders.Source, Encoding.UTF8.GetBytes($"collector; index {deadLetter.Index}") },
            { DeadLetterHeaders.TenantId, Encoding.UTF8.GetBytes(deadLetter.TenantId) },
            { DeadLetterHeaders.ReceivedAt, Encoding.UTF8.GetBytes(receivedAt.ToString("O")) },
        },
    };
}
