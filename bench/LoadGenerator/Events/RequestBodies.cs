using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LoadGenerator.Events;

/// <summary>
/// Event ids of one run: the run's 8 hex digits and a 16-digit sequence number, 24 ASCII characters.
/// Unique across runs, so a benchmark against a long-lived platform never collides with itself.
/// </summary>
public sealed class EventIds(string runId)
{
    public const int Length = 24;

    private long _next;

    public string RunId { get; } = runId.Length == 8 ? runId : throw new ArgumentException("A run id is 8 hex digits.", nameof(runId));

    /// <summary>Reserves <paramref name="count"/> consecutive sequence numbers and returns the first.</summary>
    public long Reserve(int count) => Interlocked.Add(ref _next, count) - count;

    public void Write(long sequence, Span<byte> destination)
    {
        Encoding.ASCII.GetBytes(RunId, destination);
        ((ulong)sequence).TryFormat(destination[8..Length], out _, "x16", CultureInfo.InvariantCulture);
    }

    public string Format(long sequence) => RunId + ((ulong)sequence).ToString("x16", CultureInfo.InvariantCulture);
}

/// <summary>
/// Pre-serialised request bodies: a few templates of realistic events whose event_id and timestamp
/// are fixed-width placeholders, so a request costs a copy and a few small writes instead of a JSON
/// serialisation. That keeps the generator cheap on a machine it shares with the whole platform.
/// </summary>
public sealed class RequestBodies
{
    private const int TimestampLength = 24; // 2026-11-21T10:00:00.123Z
    private static readonly string IdPlaceholder = new('#', EventIds.Length);
    private static readonly string TimestampPlaceholder = new('@', TimestampLength);

    private readonly Template[] _templates;

    public RequestBodies(EventCatalog catalog, int eventsPerRequest, bool batch, int templates)
    {
        EventsPerRequest = eventsPerRequest;
        _templates = new Template[templates];
        for (var i = 0; i < templates; i++)
        {
            _templates[i] = Build(catalog, eventsPerRequest, batch);
        }

        MaxLength = _templates.Max(t => t.Bytes.Length);
    }

    public int EventsPerRequest { get; }

    /// <summary>The largest body, for sizing a worker's buffer.</summary>
    public int MaxLength { get; }

    public double AverageLength => _templates.Average(t => t.Bytes.Length);

    /// <summary>Writes request <paramref name="request"/>'s body (ids from <paramref name="firstSequence"/> on) into the buffer; returns its length.</summary>
    public int Write(long request, long firstSequence, EventIds ids, DateTimeOffset now, byte[] buffer)
    {
        var template = _templates[request % _templates.Length];
        template.Bytes.CopyTo(buffer, 0);
        Span<byte> timestamp = stackalloc byte[TimestampLength];
        now.UtcDateTime.TryFormat(timestamp, out _, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        for (var i = 0; i < template.IdOffsets.Length; i++)
        {
            ids.Write(firstSequence + i, buffer.AsSpan(template.IdOffsets[i], EventIds.Length));
            timestamp.CopyTo(buffer.AsSpan(template.TimestampOffsets[i]));
        }

        return template.Bytes.Length;
    }

    private static Template Build(EventCatalog catalog, int events, bool batch)
    {
        var buffer = new ArrayBufferWriter<byte>(events * 700);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            if (batch)
            {
                writer.WriteStartObject();
                writer.WriteStartArray("batch");
            }

            for (var i = 0; i < events; i++)
            {
                var e = catalog.Next();
                writer.WriteStartObject();
                writer.WriteString("event", e.Name);
                writer.WriteString("event_id", IdPlaceholder);
                if (e.UserId.Length > 0)
                {
                    writer.WriteString("user_id", e.UserId);
                }
                else
                {
                    writer.WriteString("anonymous_id", e.AnonymousId);
                }

                writer.WriteString("session_id", e.SessionId);
                writer.WriteString("timestamp", TimestampPlaceholder);
                writer.WritePropertyName("properties");
                writer.WriteRawValue(e.PropertiesJson, skipInputValidation: true);
                writer.WritePropertyName("context");
                writer.WriteRawValue(e.ContextJson, skipInputValidation: true);
                writer.WriteEndObject();
            }

            if (batch)
            {
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
        }

        var bytes = buffer.WrittenSpan.ToArray();
        var ids = Offsets(bytes, IdPlaceholder);
        var timestamps = Offsets(bytes, TimestampPlaceholder);
        if (ids.Length != events || timestamps.Length != events)
        {
            throw new InvalidOperationException("A body template lost track of its placeholders.");
        }

        return new Template(bytes, ids, timestamps);
    }

    // The placeholders are written as whole JSON strings, so finding the quoted text finds exactly them.
    private static int[] Offsets(byte[] body, string placeholder)
    {
        var needle = Encoding.ASCII.GetBytes('"' + placeholder + '"');
        var offsets = new List<int>();
        var span = body.AsSpan();
        var start = 0;
        int at;
        while ((at = span[start..].IndexOf(needle)) >= 0)
        {
            offsets.Add(start + at + 1);
            start += at + needle.Length;
        }

        return [.. offsets];
    }

    private sealed record Template(byte[] Bytes, int[] IdOffsets, int[] TimestampOffsets);
}
