using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Platform.Events;

namespace Collector.Intake;

/// <summary>
/// How a request's accepted events become records of the events topic: the events of each user slot (a stable hash of the
/// user, modulo the slot count) as one JSON array of collected events, keyed <c>tenant:slot</c>, in the request's order, split
/// when a record would pass the byte bound. The Ingestor reads an array record event by event, and a one-object record as before.
/// </summary>
public static class EventRecords
{
    public static List<Message<byte[], byte[]>> Build(IReadOnlyList<CollectedEvent> events, int slots, int maxRecordBytes)
    {
        var records = new List<Message<byte[], byte[]>>();
        if (events.Count == 0)
        {
            return records;
        }

        var buffer = new ArrayBufferWriter<byte>(Math.Min(maxRecordBytes, 64 * 1024));
        using var writer = new Utf8JsonWriter(buffer);
        // Slots in the order they first appear, each slot's events in the request's order.
        foreach (var slot in Enumerable.Range(0, events.Count).GroupBy(i => Slot(events[i], slots)))
        {
            var key = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{events[slot.First()].TenantId}:{slot.Key}"));
            var inRecord = 0;
            foreach (var i in slot)
            {
                if (inRecord == 0)
                {
                    writer.WriteStartArray();
                }

                JsonSerializer.Serialize(writer, events[i], EventJsonContext.Default.CollectedEvent);
                inRecord++;
                if (writer.BytesPending + writer.BytesCommitted >= maxRecordBytes)
                {
                    records.Add(Complete(writer, buffer, key));
                    inRecord = 0;
                }
            }

            if (inRecord > 0)
            {
                records.Add(Complete(writer, buffer, key));
            }
        }

        return records;
    }

    /// <summary>The user's slot: FNV-1a of the user id (the same in every process and run, unlike string hash codes).</summary>
    public static int Slot(CollectedEvent e, int slots)
    {
        var hash = 2166136261;
        foreach (var c in e.UserId.Length > 0 ? e.UserId : e.AnonymousId)
        {
            hash = (hash ^ c) * 16777619;
        }

        return (int)(hash % (uint)slots);
    }

    private static Message<byte[], byte[]> Complete(Utf8JsonWriter writer, ArrayBufferWriter<byte> buffer, byte[] key)
    {
        writer.WriteEndArray();
        writer.Flush();
        var record = new Message<byte[], byte[]> { Key = key, Value = buffer.WrittenSpan.ToArray() };
        buffer.ResetWrittenCount();
        writer.Reset();
        return record;
    }
}
