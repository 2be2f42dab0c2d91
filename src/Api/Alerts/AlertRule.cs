using System.Globalization;
using System.Text.RegularExpressions;

namespace Api.Alerts;

/// <summary>The conditions a rule may test; the percentages compare with the same window a day or a week earlier.</summary>
public static class AlertConditions
{
    public const string Above = "above";
    public const string Below = "below";
    public const string DropPct = "drop_pct";
    public const string RisePct = "rise_pct";

    public static readonly IReadOnlyList<string> All = [Above, Below, DropPct, RisePct];

    public static readonly IReadOnlyList<string> Baselines = ["previous_day", "previous_week"];

    public static bool IsComparison(string condition) => condition is DropPct or RisePct;

    public static TimeSpan Offset(string compareTo) => compareTo == "previous_week" ? TimeSpan.FromDays(7) : TimeSpan.FromDays(1);
}

/// <summary>A rule as stored: what to read, when it fires, where to tell. The secret signs its webhooks.</summary>
public sealed record AlertRule(
    long Id, string Name, string? TenantId, string Metric, string? Window, string? EventName, string Condition, string? CompareTo,
    double Threshold, TimeSpan Every, TimeSpan For, string WebhookUrl, string WebhookFormat, string Secret, DateTimeOffset CreatedAt, AlertState State)
{
    public AlertMetric Definition => AlertMetrics.Find(Metric)!;

    /// <summary>Whether a reading breaches the rule; a comparison without a baseline (nothing a day or week earlier) never does.</summary>
    public bool Breached(AlertReading reading) => Condition switch
    {
        AlertConditions.Above => reading.Value > Threshold,
        AlertConditions.Below => reading.Value < Threshold,
        AlertConditions.DropPct => reading.ChangePct is { } change && -change >= Threshold,
        AlertConditions.RisePct => reading.ChangePct is { } change && change >= Threshold,
        _ => false,
    };
}

/// <summary><c>ok</c>, <c>pending</c> (breached, waiting out the rule's <c>for</c>) or <c>firing</c>, since when, and the last reading.</summary>
public sealed record AlertState(string Status, DateTimeOffset? Since, double? Value, double? Baseline, DateTimeOffset? EvaluatedAt, string? Error)
{
    public const string Ok = "ok";
    public const string Pending = "pending";
    public const string Firing = "firing";

    public static readonly AlertState Initial = new(Ok, null, null, null, null, null);
}

/// <summary>A metric's value now and, for comparisons, the same window's value a day or a week earlier.</summary>
/// <param name="Query">The Api path (with query string) that shows the figure, for the webhook's link.</param>
public sealed record AlertReading(double Value, double? Baseline, string Query)
{
    public double? ChangePct => Baseline is > 0 ? (Value - Baseline.Value) / Baseline.Value * 100 : null;
}

/// <summary>Durations in rules: a whole number of seconds, minutes, hours or days (<c>30s</c>, <c>5m</c>, <c>1h</c>, <c>1d</c>).</summary>
public static partial class AlertDurations
{
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        var match = text is null ? null : Pattern().Match(text);
        if (match is not { Success: true } || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 100_000)
        {
            return false;
        }

        duration = match.Groups[2].Value switch
        {
            "s" => TimeSpan.FromSeconds(n),
            "m" => TimeSpan.FromMinutes(n),
            "h" => TimeSpan.FromHours(n),
            _ => TimeSpan.FromDays(n),
        };
        return true;
    }

    public static string Format(TimeSpan duration) => duration switch
    {
        { Ticks: 0 } => "0s",
        _ when duration.Ticks % TimeSpan.TicksPerDay == 0 => $"{duration.Ticks / TimeSpan.TicksPerDay}d",
        _ when duration.Ticks % TimeSpan.TicksPerHour == 0 => $"{duration.Ticks / TimeSpan.TicksPerHour}h",
        _ when duration.Ticks % TimeSpan.TicksPerMinute == 0 => $"{duration.Ticks / TimeSpan.TicksPerMinute}m",
        _ => $"{(long)duration.TotalSeconds}s",
    };

    [GeneratedRegex("^([0-9]{1,6})([smhd])$")]
    private static partial Regex Pattern();
}
