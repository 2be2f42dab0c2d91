using System.Text.Json;
using System.Text.Json.Serialization;

namespace Platform.Tenancy;

/// <summary>What intake does with a personal-data property: leave out, or replace by a keyed hash.</summary>
public enum PiiAction
{
    [JsonStringEnumMemberName("drop")]
    Drop,

    [JsonStringEnumMemberName("hash")]
    Hash,
}

/// <summary>A tenant's intake rules, kept as JSON beside the tenant in PostgreSQL.</summary>
public sealed record TenantSettings
{
    public static readonly IReadOnlyDictionary<string, PiiAction> DefaultPiiProperties = new Dictionary<string, PiiAction>(StringComparer.OrdinalIgnoreCase)
    {
        ["email"] = PiiAction.Hash,
        ["phone"] = PiiAction.Hash,
        ["ip"] = PiiAction.Drop,
    };

    public static readonly TenantSettings Default = new();

    /// <summary>Replace user_id, anonymous_id and alias previous_id by a keyed hash at intake.</summary>
    public bool HashUserIds { get; init; }

    /// <summary>Property and trait names (case-insensitive) that are dropped or hashed at intake; absent means the defaults.</summary>
    // The JSON source generator sets every init property, absent ones to null, so the default lives in the getter.
    public IReadOnlyDictionary<string, PiiAction> PiiProperties { get => _piiProperties ?? DefaultPiiProperties; init => _piiProperties = value; }

    private readonly IReadOnlyDictionary<string, PiiAction>? _piiProperties;

    /// <summary>Overrides the Collector's default events-per-second limit for this tenant.</summary>
    public int? EventsPerSecond { get; init; }

    /// <summary>The IANA time zone the Api uses for day and week boundaries when a query names none (null: UTC).</summary>
    public string? TimeZone { get; init; }

    /// <summary>Whether <paramref name="id"/> is an IANA time zone this machine knows, written as IANA writes it.</summary>
    public static bool IsKnownTimeZone(string? id) =>
        id is { Length: > 0 and <= 64 } && !id.Contains("..", StringComparison.Ordinal) && System.Text.RegularExpressions.Regex.IsMatch(id, "^[A-Za-z][A-Za-z0-9_+/-]*$")
        && TimeZoneInfo.TryFindSystemTimeZoneById(id, out var zone) && zone.HasIanaId;
}

/// <summary>A tenant as the admin path shows it, with its keys (never their plain text).</summary>
public sealed record TenantInfo(string Id, string Name, DateTimeOffset CreatedAt, TenantSettings Settings, IReadOnlyList<ApiKeyInfo> Keys);

public sealed record ApiKeyInfo(string Id, string Kind, string Prefix, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, IReadOnlyList<string> Scopes);

/// <summary>What intake needs per tenant: its rules and the secret its keyed hashes use.</summary>
public sealed record TenantIntakeProfile(string TenantId, TenantSettings Settings, byte[] HashKey)
{
    /// <summary>The PII rules by property name, case-insensitive whatever the stored JSON's keys look like.</summary>
    public IReadOnlyDictionary<string, PiiAction> PiiProperties { get; } =
        new Dictionary<string, PiiAction>(Settings.PiiProperties, StringComparer.OrdinalIgnoreCase);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, UseStringEnumConverter = true)]
[JsonSerializable(typeof(TenantSettings))]
[JsonSerializable(typeof(TenantInfo))]
public sealed partial class TenancyJsonContext : JsonSerializerContext;
