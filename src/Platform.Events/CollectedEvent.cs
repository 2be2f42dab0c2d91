using System.Text.Json;
using System.Text.Json.Serialization;

namespace Platform.Events;

/// <summary>
/// One event as the Collector accepted it and the Ingestor stores it: the value of a record on the
/// events topic. The tenant is set by the Collector from the write key, never from the payload.
/// Version 2 added the call type, skew correction inputs, typed context, traits and alias/group links;
/// version 1 records still read (the new fields take their defaults).
/// </summary>
public sealed record CollectedEvent
{
    public const int CurrentVersion = 2;

    public int SchemaVersion { get; init; } = CurrentVersion;

    public required string TenantId { get; init; }

    /// <summary>The client's id for the event (Segment's <c>messageId</c>): the identity copies are folded by.</summary>
    public required string EventId { get; init; }

    /// <summary>The call that produced it: track, page, screen, identify, group or alias.</summary>
    public string Type { get; init; } = EventTypes.Track;

    public required string Event { get; init; }

    /// <summary>The client's version of this event's shape, free text.</summary>
    public string EventVersion { get; init; } = "";

    public string UserId { get; init; } = "";

    public string AnonymousId { get; init; } = "";

    public string SessionId { get; init; } = "";

    /// <summary>When it happened, in UTC, corrected for the device's clock skew when <see cref="SentAt"/> was given.</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>The timestamp as the client sent it (before skew correction); null when the client sent none.</summary>
    public DateTimeOffset? OriginalTimestamp { get; init; }

    /// <summary>The device clock when the request was sent.</summary>
    public DateTimeOffset? SentAt { get; init; }

    /// <summary>When the Collector received it.</summary>
    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>A flat object of primitives, after the tenant's PII rules.</summary>
    public JsonElement? Properties { get; init; }

    /// <summary>The well-known context fields, normalised from our flat shape or Segment's nested one.</summary>
    public EventContext Context { get; init; } = EventContext.Empty;

    /// <summary>The context as the client sent it, without the IP address.</summary>
    public JsonElement? RawContext { get; init; }

    /// <summary>identify and group traits, after the tenant's PII rules.</summary>
    public JsonElement? Traits { get; init; }

    /// <summary>alias: the id the user had before.</summary>
    public string PreviousId { get; init; } = "";

    /// <summary>group: the account or organisation the user belongs to.</summary>
    public string GroupId { get; init; } = "";
}

/// <summary>Context fields every event may carry, all optional.</summary>
public sealed record EventContext
{
    public static readonly EventContext Empty = new();

    public string AppVersion { get; init; } = "";

    public string Os { get; init; } = "";

    public string Device { get; init; } = "";

    public string Locale { get; init; } = "";

    public string Timezone { get; init; } = "";

    /// <summary>ISO 3166-1 alpha-2 country code.</summary>
    public string Country { get; init; } = "";

    public string Library { get; init; } = "";

    /// <summary>The page URL or path (web) or screen name (mobile).</summary>
    public string Page { get; init; } = "";

    public string UserAgent { get; init; } = "";
}

/// <summary>The call types of the Segment spec, which our own events endpoint calls "track".</summary>
public static class EventTypes
{
    public const string Track = "track";
    public const string Page = "page";
    public const string Screen = "screen";
    public const string Identify = "identify";
    public const string Group = "group";
    public const string Alias = "alias";
}

/// <summary>Topic names and dead-letter headers shared by producers and consumers.</summary>
public static class EventTopics
{
    public const string Events = "events";
    public const string DeadLetter = "events-dead-letter";
}

/// <summary>Headers on a dead-letter record: why it was refused, and where it came from.</summary>
public static class DeadLetterHeaders
{
    public const string Reason = "dead-letter-reason";
    public const string Field = "dead-letter-field";
    public const string Source = "dead-letter-source";
    public const string TenantId = "tenant-id";
    public const string ReceivedAt = "received-at";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CollectedEvent))]
[JsonSerializable(typeof(List<CollectedEvent>))]
public sealed partial class EventJsonContext : JsonSerializerContext;
