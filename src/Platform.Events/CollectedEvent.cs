using System.Text.Json;
using System.Text.Json.Serialization;

namespace Platform.Events;

/// <summary>
/// One event as the Collector accepted it and the Ingestor stores it: the value of a record on the
/// events topic. The tenant is set by the Collector from the write key, never from the payload.
/// </summary>
public sealed record CollectedEvent
{
    public const int CurrentVersion = 1;

    public int SchemaVersion { get; init; } = CurrentVersion;

    public required string TenantId { get; init; }

    public required string EventId { get; init; }

    public required string Event { get; init; }

    public string UserId { get; init; } = "";

    public string AnonymousId { get; init; } = "";

    public string SessionId { get; init; } = "";

    /// <summary>When it happened, in UTC.</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>When the Collector received it.</summary>
    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>A flat object of primitives, kept as the client sent it.</summary>
    public JsonElement? Properties { get; init; }

    public JsonElement? Context { get; init; }
}

/// <summary>Topic names shared by producer and consumer.</summary>
public static class EventTopics
{
    public const string Events = "events";
    public const string DeadLetter = "events-dead-letter";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CollectedEvent))]
public sealed partial class EventJsonContext : JsonSerializerContext;
