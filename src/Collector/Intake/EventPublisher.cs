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
/// somewhere. A request's events travel as a few records (<see cref="EventRecords"/>): each user's in
/// the record of the user's slot, so one user's events stay in one partition, in order.
/// </summary>
public sealed class EventPublisher(IProducer<byte[], byte[]> producer, IOptions<CollectorOptions> options, ILogger<EventPublisher> logger)
{
    private long _events;
    private long _records;

    /// <summary>Events per record of the events topic so far, to turn a backlog of records into one of events.</summary>
    public double EventsPerRecord => Interlocked.Read(ref _records) is > 0 and var records ? Interlocked.Read(ref _events) / (double)records : 1;

    /// <summary>True when Kafka acknowledged every record within the bound; false when it may not have.</summary>
    public async Task<bool> PublishAsync(IReadOnlyList<CollectedEvent> events, IReadOnlyList<DeadLetter> deadLetters, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var records = EventRecords.Build(events, settings.UserSlots, settings.MaxRecordBytes);
        var deliveries = new Task[records.Count + deadLetters.Count];
        for (var i = 0; i < records.Count; i++)
        {
            deliveries[i] = producer.ProduceAsync(EventTopics.Events, records[i], CancellationToken.None);
        }

        for (var i = 0; i < deadLetters.Count; i++)
        {
            deliveries[records.Count + i] = producer.ProduceAsync(EventTopics.DeadLetter, ToMessage(deadLetters[i], receivedAt), CancellationToken.None);
        }

        Interlocked.Add(ref _events, events.Count);
        Interlocked.Add(ref _records, records.Count);
        try
        {
            await Task.WhenAll(deliveries).WaitAsync(settings.AcknowledgeTimeout, cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is TimeoutException or ProduceException<byte[], byte[]> or KafkaException)
        {
            logger.LogWarning("Kafka did not acknowledge {Events} events in {Records} records and {DeadLetters} dead letters: {Error}",
                events.Count, records.Count, deadLetters.Count, ex.Message);
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
