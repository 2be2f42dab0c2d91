using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.Json.Serialization;

namespace Api.Alerts;

public sealed record WebhookRule(long Id, string Name, string Metric, string? Window, string? Event, string Condition, string? CompareTo, double Threshold, string Every, string For);

/// <summary>The <c>json</c> body: the rule, whose data, the reading against the threshold, and a link to the query that shows it.</summary>
public sealed record WebhookBody(
    string Status, WebhookRule Rule, string? Tenant, double Value, double? Baseline, double? ChangePct, double Threshold, string? Window,
    DateTimeOffset ObservedAt, DateTimeOffset FiringSince, string Query, string Summary);

/// <summary>Slack's incoming-webhook shape: text, and the same as a markdown block.</summary>
public sealed record SlackBody(string Text, IReadOnlyList<SlackBlock> Blocks);

public sealed record SlackBlock(string Type, SlackText Text);

public sealed record SlackText(string Type, string Text);

/// <summary>Builds a webhook's body once (it is stored and resent as is) and signs it.</summary>
public static class WebhookMessages
{
    public const string SignatureHeader = "X-Platform-Signature";
    public const string DeliveryHeader = "X-Platform-Delivery";
    public const string EventHeader = "X-Platform-Event";

    // Not HTML: links and Slack's <url|text> read as written instead of as \u0026 and \u003C.
    private static readonly JsonSerializerOptions Relaxed = new(WebhookJsonContext.Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <param name="since">When the rule started firing (for a resolved message, the firing it ends).</param>
    public static string Build(AlertRule rule, string status, AlertReading reading, DateTimeOffset now, DateTimeOffset since, string publicUrl)
    {
        var query = publicUrl.TrimEnd('/') + reading.Query;
        var summary = Summary(rule, status, reading);
        if (rule.WebhookFormat == "slack")
        {
            var mark = status == AlertState.Firing ? "FIRING" : "RESOLVED";
            var text = $"[{mark}] {rule.Name}{(rule.TenantId is { } t ? $" (tenant {t})" : "")}: {summary} <{query}|query>";
            return JsonSerializer.Serialize(new SlackBody(text, [new SlackBlock("section", new SlackText("mrkdwn", text))]), (JsonTypeInfo<SlackBody>)Relaxed.GetTypeInfo(typeof(SlackBody)));
        }

        var body = new WebhookBody(status,
            new WebhookRule(rule.Id, rule.Name, rule.Metric, rule.Window, rule.EventName, rule.Condition, rule.CompareTo, rule.Threshold,
                AlertDurations.Format(rule.Every), AlertDurations.Format(rule.For)),
            rule.TenantId, reading.Value, reading.Baseline, reading.ChangePct is { } c ? Math.Round(c, 2) : null, rule.Threshold, rule.Window, now, since, query, summary);
        return JsonSerializer.Serialize(body, (JsonTypeInfo<WebhookBody>)Relaxed.GetTypeInfo(typeof(WebhookBody)));
    }

    /// <summary><c>sha256=</c> and the lowercase hex HMAC-SHA256 of the exact body bytes, keyed with the rule's secret.</summary>
    public static string Sign(string secret, string body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(body)));

    private static string Summary(AlertRule rule, string status, AlertReading reading)
    {
        var what = rule.Window is { } w ? $"{rule.Metric} ({w}{(rule.EventName is { } e ? $", {e}" : "")})" : rule.Metric;
        var value = Number(reading.Value);
        var verdict = status == AlertState.Firing ? "fires" : "is resolved";
        return rule.Condition switch
        {
            AlertConditions.DropPct or AlertConditions.RisePct =>
                $"{what} is {value} against {Number(reading.Baseline ?? 0)} the {(rule.CompareTo == "previous_week" ? "week" : "day")} before " +
                $"({(reading.ChangePct is { } c ? $"{c:+0.##;-0.##;0}%" : "no baseline")}); the rule {verdict} at a {Number(rule.Threshold)}% {(rule.Condition == AlertConditions.DropPct ? "drop" : "rise")}.",
            _ => $"{what} is {value} {rule.Definition.Unit}; the rule {verdict} {rule.Condition} {Number(rule.Threshold)}.",
        };
    }

    private static string Number(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(WebhookBody))]
[JsonSerializable(typeof(SlackBody))]
internal sealed partial class WebhookJsonContext : JsonSerializerContext;
