using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
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
/// (tenant_id, event_id) in the batch), poison records still to dead-letter, and per partition the
/// offset to commit once both are stored. Stored parts are removed, so a retry sends only the rest.
/// </summary>
public sealed class EventBatch
{
    private readonly HashSet<(string TenantId, string EventId)> _keys = [];
    private readonly List<(ConsumeResult<byte[], byte[]> Record, CollectedEvent Event)> _rowSources = [];
    private readonly HashSet<int> _refused = [];
    private readonly Stopwatch _age = new();

    public List<RawEventRow> Rows { get; } = [];

    public Queue<Message<byte[], byte[]>> DeadLetters { get; } = new();

    public Dictionary<TopicPartition, Offset> Offsets { get; } = [];

    /// <summary>Records read into the batch, duplicates and poison included.</summary>
    public int Records { get; private set; }

    public bool IsEmpty => Records == 0;

    /// <summary>How long the oldest record has waited.</summary>
    public TimeSpan Age => _age.Elapsed;

    public RecordOutcome Add(ConsumeResult<byte[], byte[]> result)
    {
        if (Records++ == 0)
        {
            _age.Restart();
        }

        Offsets[result.TopicPartition] = result.Offset + 1;
        CollectedEvent? collected = null;
        (string Reason, string? Field) refusal;
        try
        {
            collected = JsonSerializer.Deserialize(result.Message.Value, EventJsonContext.Default.CollectedEvent);
            refusal = collected switch
            {
                null => ("The record is not a collected event.", null),
                { TenantId: null or "" } => ("tenant_id is required.", "tenant_id"),
                { EventId: null or "" } => ("event_id is required.", "event_id"),
                // ClickHouse would refuse (or wrap) these, and a refused insert would stall every partition.
                { Timestamp: var t } when !Storable(t) => ("timestamp is outside what raw_events can store (1970-2105).", "timestamp"),
                { ReceivedAt: var t } when !Storable(t) => ("received_at is outside what raw_events can store (1970-2105).", "received_at"),
                { SchemaVersion: < 1 or > 255 } => ("schema_version must be 1-255.", "schema_version"),
                _ => default,
            };
            if (refusal == default)
            {
                var row = RawEventRow.From(collected!);
                if (!_keys.Add((row.TenantId, row.EventId)))
                {
                    return RecordOutcome.Duplicate;
                }

                Rows.Add(row);
                _rowSources.Add((result, collected!));
                return RecordOutcome.Row;
            }
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException or NotSupportedException)
        {
            refusal = (ex.Message, (ex as JsonException)?.Path?.TrimStart('$', '.'));
        }

        DeadLetters.Enqueue(DeadLetter(result, refusal.Reason, refusal.Field, collected));
        return RecordOutcome.DeadLetter;
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

        var (record, collected) = _rowSources[index];
        DeadLetters.Enqueue(DeadLetter(record, "ClickHouse refused the row: " + reason, null, collected));
        return true;
    }

    /// <summary>Every row is stored or refused: only the dead letters remain to send.</summary>
    public void RowsDone()
    {
        Rows.Clear();
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
        _age.Reset();
    }

    /// <summary>The record as it came, with headers saying why it was refused and where it came from.</summary>
    private static Message<byte[], byte[]> DeadLetter(ConsumeResult<byte[], byte[]> result, string reason, string? field, CollectedEvent? collected)
    {
        var message = result.Message;
        message.Headers ??= [];
        message.Headers.Add(DeadLetterHeaders.Reason, Encoding.UTF8.GetBytes(reason));
        message.Headers.Add(DeadLetterHeaders.Source, Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{result.Topic}/{result.Partition.Value}/{result.Offset.Value}")));
        if (field is { Length: > 0 })
        {
            message.Headers.Add(DeadLetterHeaders.Field, Encoding.UTF8.GetBytes(field));
        }

        if (collected?.TenantId is { Length: > 0 } tenantId)
        {
            message.Headers.Add(DeadLetterHeaders.TenantId, Encoding.UTF8.GetBytes(tenantId));
            message.Headers.Add(DeadLetterHeaders.ReceivedAt, Encoding.UTF8.GetBytes(collected.ReceivedAt.ToString("O", CultureInfo.InvariantCulture)));
        }

        return message;
    }
}
