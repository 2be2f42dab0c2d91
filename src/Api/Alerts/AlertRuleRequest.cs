using System.Security.Cryptography;
using Api.Querying;
using Platform.Tenancy;

namespace Api.Alerts;

public sealed record WebhookRequest(string Url, string? Format = null, string? Secret = null);

/// <summary>A rule as the admin path receives it (snake_case JSON, see docs/alerts.md).</summary>
public sealed record AlertRuleRequest(
    string Name, string Metric, string Condition, double Threshold, WebhookRequest Webhook,
    string? Tenant = null, string? Window = null, string? Event = null, string? CompareTo = null, string? Every = null, string? For = null);

/// <summary>Why a rule is refused: a 400 with this title and detail (or 404 when the tenant does not exist, checked later).</summary>
public sealed record RuleProblem(string Title, string Detail);

/// <summary>Checks a requested rule against the metric catalogue and the receiver rules, and fills in the defaults.</summary>
public static class AlertRuleValidation
{
    public static readonly TimeSpan DefaultEvery = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan MinEvery = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxEvery = TimeSpan.FromDays(1);
    public static readonly TimeSpan MaxFor = TimeSpan.FromDays(1);
    public const double MaxRisePct = 1_000_000;

    public static readonly IReadOnlyList<string> Formats = ["json", "slack"];

    public static (AlertRule? Rule, RuleProblem? Problem) Validate(AlertRuleRequest request, ReceiverGuard receivers, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 200)
        {
            return Refuse("Invalid rule name", "name is required, at most 200 characters.");
        }

        if (AlertMetrics.Find(request.Metric) is not { } metric)
        {
            return Refuse("Unknown metric",
                $"'{request.Metric}' is not a metric rules can watch. Tenant metrics: {AlertMetrics.Names(AlertScope.Tenant)}. Platform metrics: {AlertMetrics.Names(AlertScope.Platform)}.");
        }

        if (metric.Scope == AlertScope.Tenant && !TenantDirectory.IsValidTenantId(request.Tenant))
        {
            return Refuse("Tenant required", $"'{metric.Name}' is a tenant metric: name the tenant whose data it reads. {TenantDirectory.TenantIdRule}");
        }

        if (metric.Scope == AlertScope.Platform && request.Tenant is not null)
        {
            return Refuse("Platform metric", $"'{metric.Name}' is the platform's, not a tenant's: leave tenant out.");
        }

        var (window, windowProblem) = ReadWindow(metric, request.Window);
        if (windowProblem is not null)
        {
            return Refuse("Invalid window", windowProblem);
        }

        string? eventName = null;
        if (request.Event is not null)
        {
            if (!metric.TakesEventName)
            {
                return Refuse("Invalid event", $"'{metric.Name}' takes no event name.");
            }

            try
            {
                eventName = EventNames.Validate("event", request.Event);
            }
            catch (BadQueryException ex)
            {
                return Refuse("Invalid event", ex.Message);
            }
        }

        if (!AlertConditions.All.Contains(request.Condition))
        {
            return Refuse("Invalid condition", $"condition must be one of {string.Join(", ", AlertConditions.All)}.");
        }

        var comparison = AlertConditions.IsComparison(request.Condition);
        if (comparison && !metric.Comparable)
        {
            return Refuse("Invalid condition", $"'{metric.Name}' is read as it is now and cannot be compared with an earlier window: use above or below.");
        }

        if (comparison != (request.CompareTo is not null) || (comparison && !AlertConditions.Baselines.Contains(request.CompareTo!)))
        {
            return Refuse("Invalid compare_to", comparison
                ? $"{request.Condition} needs compare_to: {string.Join(" or ", AlertConditions.Baselines)}."
                : "compare_to goes only with drop_pct or rise_pct.");
        }

        var (min, max) = ThresholdRange(metric, request.Condition);
        if (!double.IsFinite(request.Threshold) || request.Threshold < min || request.Threshold > max)
        {
            return Refuse("Threshold out of range", $"threshold for {metric.Name} {request.Condition} must be between {min} and {max} ({(comparison ? "percent" : metric.Unit)}).");
        }

        if (!ParseDuration(request.Every, DefaultEvery, out var every) || every < MinEvery || every > MaxEvery)
        {
            return Refuse("Invalid schedule", "every is how often the rule is read: 1s to 1d, as 30s, 5m, 1h or 1d.");
        }

        if (!ParseDuration(request.For, TimeSpan.Zero, out var holdFor) || holdFor > MaxFor)
        {
            return Refuse("Invalid for", "for is how long the condition must hold before the rule fires: 0s to 1d, as 30s, 5m, 1h or 1d.");
        }

        if (request.Webhook is null)
        {
            return Refuse("Webhook required", "webhook.url is where firing and resolving are sent.");
        }

        var format = request.Webhook.Format ?? "json";
        if (!Formats.Contains(format))
        {
            return Refuse("Invalid webhook format", "webhook.format must be json or slack.");
        }

        if (receivers.Problem(request.Webhook.Url) is { } urlProblem)
        {
            return Refuse("Invalid webhook URL", urlProblem);
        }

        if (request.Webhook.Secret is { } given && (given.Length < 16 || given.Length > 256))
        {
            return Refuse("Invalid webhook secret", "webhook.secret must be 16-256 characters, or left out for the platform to make one.");
        }

        var secret = request.Webhook.Secret ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        return (new AlertRule(0, request.Name.Trim(), request.Tenant, metric.Name, window, eventName, request.Condition, request.CompareTo,
            request.Threshold, every, holdFor, request.Webhook.Url, format, secret, now, AlertState.Initial), null);
    }

    public static (double Min, double Max) ThresholdRange(AlertMetric metric, string condition) => condition switch
    {
        AlertConditions.DropPct => (0.01, 100),
        AlertConditions.RisePct => (0.01, MaxRisePct),
        _ => (0, metric.MaxThreshold),
    };

    /// <summary>The window as stored (a duration in its one written form), or why the metric does not take it.</summary>
    private static (string? Window, string? Problem) ReadWindow(AlertMetric metric, string? window)
    {
        if (!metric.TakesWindow)
        {
            return window is null ? (null, null) : (null, $"'{metric.Name}' is read as it is now and takes no window.");
        }

        if (metric.Windows.Count > 0)
        {
            return window is not null && metric.Windows.Contains(window) ? (window, null) : (null, $"window for {metric.Name} must be one of {string.Join(", ", metric.Windows)}.");
        }

        return AlertDurations.TryParse(window, out var duration) && duration >= metric.MinWindow && duration <= metric.MaxWindow && duration.Ticks % TimeSpan.TicksPerMinute == 0
            ? (AlertDurations.Format(duration), null)
            : (null, $"window for {metric.Name} is a whole number of minutes from {AlertDurations.Format(metric.MinWindow!.Value)} to {AlertDurations.Format(metric.MaxWindow!.Value)}, as 15m, 1h or 1d.");
    }

    private static bool ParseDuration(string? text, TimeSpan fallback, out TimeSpan duration)
    {
        duration = fallback;
        return text is null || AlertDurations.TryParse(text, out duration);
    }

    private static (AlertRule?, RuleProblem?) Refuse(string title, string detail) => (null, new RuleProblem(title, detail));
}
