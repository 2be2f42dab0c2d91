using System.Text.Json;
using Platform.Events;

namespace Collector.Intake;

/// <summary>
/// An event as a client described it, in either format (ours or Segment's), checked field by field
/// but not yet timed, identified or scrubbed: <see cref="EventCompleter"/> does that once for both.
/// </summary>
public sealed record IncomingEvent
{
    public string Type { get; init; } = EventTypes.Track;

    public required string Event { get; init; }

    public string? EventId { get; init; }

    public string EventVersion { get; init; } = "";

    public string UserId { get; init; } = "";

    public string AnonymousId { get; init; } = "";

    public string SessionId { get; init; } = "";

    /// <summary>The device's time of the event, or null to use the time of receipt.</summary>
    public DateTimeOffset? Timestamp { get; init; }

    /// <summary>False when the client's time is authoritative (Segment's explicit <c>timestamp</c>).</summary>
    public bool CorrectSkew { get; init; } = true;

    public DateTimeOffset? SentAt { get; init; }

    public JsonElement? Properties { get; init; }

    public EventContext Context { get; init; } = EventContext.Empty;

    public JsonElement? RawContext { get; init; }

    public JsonElement? Traits { get; init; }

    public string PreviousId { get; init; } = "";

    public string GroupId { get; init; } = "";
}
