using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Platform.Events;
using Platform.Tenancy;

namespace Collector.Intake;

/// <summary>
/// The server's part of intake, the same for every format: the event's time (skew-corrected,
/// refused when it lies in the future), its id when the client sent none, and the tenant's PII rules.
/// </summary>
public static class EventCompleter
{
    public static CollectedEvent? Complete(IncomingEvent incoming, int index, TenantIntakeProfile tenant, DateTimeOffset receivedAt, CollectorOptions limits, List<EventError> errors)
    {
        var timestamp = incoming.Timestamp ?? receivedAt;
        if (incoming is { Timestamp: { } original, SentAt: { } sentAt, CorrectSkew: true })
        {
            // The device's clock may be off; the time between event and send is not. Anchor it to our clock.
            timestamp = receivedAt - (sentAt - original);
        }

        if (timestamp - receivedAt > limits.MaxFutureSkew)
        {
            errors.Add(new(index, "timestamp", $"The event's time (after clock-skew correction) is more than {limits.MaxFutureSkew.TotalHours:0} hours after it was received."));
            return null;
        }

        if (timestamp.UtcDateTime.Year < 2000)
        {
            errors.Add(new(index, "timestamp", "The event's time (after clock-skew correction) is before the year 2000."));
            return null;
        }

        var pii = new PiiRules(tenant);
        return new CollectedEvent
        {
            TenantId = tenant.TenantId,
            EventId = incoming.EventId ?? DerivedId(tenant.TenantId, incoming),
            Type = incoming.Type,
            Event = incoming.Event,
            EventVersion = incoming.EventVersion,
            UserId = pii.Identifier(incoming.UserId),
            AnonymousId = pii.Identifier(incoming.AnonymousId),
            SessionId = incoming.SessionId,
            Timestamp = timestamp,
            OriginalTimestamp = incoming.Timestamp,
            SentAt = incoming.SentAt,
            ReceivedAt = receivedAt,
            Properties = pii.Object(incoming.Properties),
            Context = incoming.Context,
            RawContext = pii.Context(incoming.RawContext),
            Traits = pii.Object(incoming.Traits),
            PreviousId = pii.Identifier(incoming.PreviousId),
            GroupId = incoming.GroupId,
        };
    }

    /// <summary>
    /// An event sent without an id gets one derived from its content when it carries its own time, so
    /// resending the same event counts once; without a time it cannot be told from a new one.
    /// </summary>
    private static string DerivedId(string tenantId, IncomingEvent e)
    {
        if (e.Timestamp is not { } timestamp)
        {
            return "r-" + Guid.NewGuid().ToString("N");
        }

        var content = string.Join('\u001f', tenantId, e.Type, e.Event, e.UserId, e.AnonymousId, e.SessionId,
            timestamp.ToUnixTimeMilliseconds(), e.Properties?.GetRawText() ?? "", e.Traits?.GetRawText() ?? "", e.PreviousId, e.GroupId);
        return "c-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content)))[..32];
    }
}

/// <summary>A tenant's personal-data rules: keyed hashes (HMAC-SHA256 with the tenant's secret) or removal.</summary>
public readonly struct PiiRules(TenantIntakeProfile tenant)
{
    public string Identifier(string value) => tenant.Settings.HashUserIds && value.Length > 0 ? Hash(value) : value;

    public JsonElement? Object(JsonElement? value)
    {
        if (value is not { } element || !Touches(element))
        {
            return value;
        }

        var rules = tenant.PiiProperties;
        var self = this;
        return JsonRewrite.Rewrite(element,
            p => !rules.TryGetValue(p.Name, out var action) ? JsonRewrite.Change.Keep
                : action == PiiAction.Drop ? JsonRewrite.Change.Drop
                : p.Value.ValueKind == JsonValueKind.Null ? JsonRewrite.Change.Keep
                : JsonRewrite.Change.Replace,
            p => self.Hash(p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText()));
    }

    /// <summary>Segment SDKs copy identify traits into context.traits; the same rules apply there.</summary>
    public JsonElement? Context(JsonElement? value)
    {
        if (value is not { } context || !context.TryGetProperty("traits", out var traits) || traits.ValueKind != JsonValueKind.Object || !Touches(traits))
        {
            return value;
        }

        return JsonRewrite.Merge(JsonRewrite.Members(context).Append(("traits", Object(traits)!.Value)));
    }

    private bool Touches(JsonElement element)
    {
        foreach (var property in element.EnumerateObject())
        {
            if (tenant.PiiProperties.ContainsKey(property.Name))
            {
                return true;
            }
        }

        return false;
    }

    private string Hash(string value) => "h-" + Convert.ToHexStringLower(HMACSHA256.HashData(tenant.HashKey, Encoding.UTF8.GetBytes(value)))[..32];
}
