using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Platform.ClickHouse;
using Platform.Events;

namespace Ingestor.Consumption;

public enum RecordOutcome
{
    Row,
    Duplicate,
    DeadLetter,
}

/// <summary>
/// What was read since the last commit: rows still to insert (only the first copy of each
/// (tenant_id, event_id) in the batch), already written as RowBinary, poison events still to dead-letter,
/// and per partition the offset to commit once both are stored. Stored parts are removed, so a retry
/// sends only the rest. A record holds one event (a JSON object) or several (a JSON array of them, as
/// the Collector writes a request's events of one partition); each event is judged on its own.
/// </summary>
public sealed class EventBatch : IDisposable
{
    private readonly HashSet<(string TenantId, string EventId)> _keys = [];
    private readonly RowBinaryBuffer _rows = new(1024 * 1024);
    private readonly List<int> _rowStarts = [];
    // Each row's record, its place in it and its own bytes there, which a refused row is dead-lettered as.
    private readonly List<(ConsumeResult<byte[], byte[]> Record, int Item, ReadOnlyMemory<byte> Json, CollectedEvent Event)> _rowSources = [];
    private readonly HashSet<int> _refused = [];
    private readonly Stopwatch _age = new();

    /// <summary>Rows still to insert.</summary>
    public int RowCount => _rowStarts.Count;

    public Queue<Message<byte[], byte[]>> DeadLetters { get; } = new();

    public Dictionary<TopicPartition, Offset> Offsets { get; } = [];

    /// <summary>Records read into the batch.</summary>
    public int Records { get; private set; }

    /// <summary>Events read into the batch, duplicates and poison included.</summary>
    public int Events { get; private set; }

    public bool IsEmpty => Records == 0;

    /// <summary>How long the oldest record has waited.</summary>
    public TimeSpan Age => _age.Elapsed;

    /// <summary>Rows [start, start + count) as the body of one RowBinary insert.</summary>
    public ReadOnlyMemory<byte> RowBytes(int start, int count) =>
        _rows.Slice(_rowStarts[start], start + count < _rowStarts.Count ? _rowStarts[start + count] : _rows.Length);

    /// <summary>The event of row <paramref name="index"/>, for logging.</summary>
    public CollectedEvent RowEvent(int index) => _rowSources[index].Event;

    /// <summary>Reads a record's events into the batch and tells what became of each.</summary>
    public void Add(ConsumeResult<byte[], byte[]> result, List<RecordOutcome> outcomes)
    {
        if (Records++ == 0)
        {
            _age.Restart();
        }

        Offsets[result.TopicPartition] = result.Offset + 1;
        var value = result.Message.Value ?? [];
        if (!IsArray(value))
        {
            outcomes.Add(AddEvent(result, -1, value));
            return;
        }

        // Each element is read on its own, so a bad one costs only itself; a broken array stops where it breaks.
        var reader = new Utf8JsonReader(value);
        var item = 0;
        try
        {
            reader.Read();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                outcomes.Add(AddEvent(result, item++, value.AsMemory(start, (int)reader.BytesConsumed - start)));
            }
        }
        catch (JsonException ex)
        {
            Events++;
            DeadLetters.Enqueue(DeadLetter(result, -1, value, $"The record's array of events is broken after its first {item} events (those were read): {ex.Message}", null, null));
            outcomes.Add(RecordOutcome.DeadLetter);
        }
    }

    private RecordOutcome AddEvent(ConsumeResult<byte[], byte[]> result, int item, ReadOnlyMemory<byte> json)
    {
        Events++;
        CollectedEvent? collected = null;
        (string Reason, string? Field) refusal;
        try
        {
            collected = JsonSerializer.Deserialize(json.Span, EventJsonContext.Default.CollectedEvent);
            refusal = collected switch
            {
                null => ("The record is not a collected event.", null),
                { TenantId: null or "" } => ("tenant_id is required.", "tenant_id"),
                { EventId: null or "" } => ("event_id is required.", "event_id"),
                // ClickHouse would refuse (or wrap) these, and a refused insert would stall every partition.
                { Timestamp: var t } when !Storable(t) => ("timestamp is outside what raw_events can store (1970-2105).", "timestamp"),
                { ReceivedAt: var t } when !Storable(t) => ("received_at is outside what raw_events can store (1970-2105).", "received_at"),
                { OriginalTimestamp: { } t } when !Storable(t) => ("original_timestamp is outside what raw_events can store (1970-2105).", "original_timestamp"),
                { SentAt: { } t } when !Storable(t) => ("sent_at is outside what raw_events can store (1970-2105).", "sent_at"),
                { SchemaVersion: < 1 or > 255 } => ("schema_version must be 1-255.", "schema_version"),
                _ => default,
            };
            if (refusal == default && collected is not null)
            {
                // Both checked non-empty above.
                var key = (collected.TenantId!, collected.EventId!);
                if (_keys.Contains(key))
                {
                    return RecordOutcome.Duplicate;
                }

                var start = _rows.Length;
                try
                {
                    RawEventRow.Write(collected, _rows);
                }
                catch
                {
                    _rows.Truncate(start);
                    throw;
                }

                _keys.Add(key);
                _rowStarts.Add(start);
                _rowSources.Add((result, item, json, collected));
                return RecordOutcome.Row;
            }
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            refusal = (ex.Message, (ex as JsonException)?.Path?.TrimStart('$', '.'));
        }

        DeadLetters.Enqueue(DeadLetter(result, item, json, refusal.Reason, refusal.Field, collected));
        return RecordOutcome.DeadLetter;
    }

    private static bool IsArray(byte[] value)
    {
        foreach (var b in value)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return b == (byte)'[';
            }
        }

        return false;
    }

    private static bool Storable(DateTimeOffset time) => time.UtcDateTime.Year is >= 1970 and < 2106;

    /// <summary>
    /// ClickHouse refused the row at <paramref name="index"/> because of its data: it is dead-lettered with the server's reason
    /// instead of stored. Idempotent, since a retry of the batch isolates the same row again. False when already refused.
    /// </summary>
    public bool Refuse(int index, string reason)
    {
        if (!_refused.Add(index))
        {
            return false;
        }

        var (record, item, json, collected) = _rowSources[index];
        DeadLetters.Enqueue(DeadLetter(record, item, json, "ClickHouse refused the row: " + reason, null, collected));
        return true;
    }

    /// <summary>Every row is stored or refused: only the dead letters remain to send.</summary>
    public void RowsDone()
    {
        _rows.Clear();
        _rowStarts.Clear();
        _rowSources.Clear();
        _refused.Clear();
    }

    public void Clear()
    {
        RowsDone();
        DeadLetters.Clear();
        Offsets.Clear();
        _keys.Clear();
        Records = 0;
        Events = 0;
        _age.Reset();
    }

    public void Dispose() => _rows.Dispose();

    /// <summary>
    /// The event as it came (the whole record, or its element of a record's array), with the record's headers and headers
    /// saying why it was refused and where it came from.
    /// </summary>
    private static Message<byte[], byte[]> DeadLetter(ConsumeResult<byte[], byte[]> result, int item, ReadOnlyMemory<byte> json, string reason, string? field, CollectedEvent? collected)
    {
        var record = result.Message;
        var headers = new Headers();
        foreach (var header in record.Headers ?? [])
        {
            headers.Add(header.Key, header.GetValueBytes());
        }

        headers.Add(DeadLetterHeaders.Reason, Encoding.UTF8.GetBytes(reason));
        headers.Add(DeadLetterHeaders.Source, Encoding.UTF8.GetBytes(item < 0
            ? string.Create(CultureInfo.InvariantCulture, $"{result.Topic}/{result.Partition.Value}/{result.Offset.Value}")
            : string.Create(CultureInfo.InvariantCulture, $"{result.Topic}/{result.Partition.Value}/{result.Offset.Value}#{item}")));
        if (field is { Length: > 0 })
        {
            headers.Add(DeadLetterHeaders.Field, Encoding.UTF8.GetBytes(field));
        }

        if (collected?.TenantId is { Length: > 0 } tenantId)
        {
            headers.Add(DeadLetterHeaders.TenantId, Encoding.UTF8.GetBytes(tenantId));
            headers.Add(DeadLetterHeaders.ReceivedAt, Encoding.UTF8.GetBytes(collected.ReceivedAt.ToString("O", CultureInfo.InvariantCulture)));
        }

        return new Message<byte[], byte[]> { Key = record.Key, Value = json.ToArray(), Headers = headers };
    }
}
