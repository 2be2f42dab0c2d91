using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Ingestor.Cdc.Capture;

/// <summary>
/// Degraded (never Unhealthy: the event pipeline is fine without CDC) when a configured table is refused,
/// capture cannot stream, the slot is inactive or stopped advancing while it should stream, or the slot
/// holds more WAL than <see cref="CdcOptions.SlotSizeWarningBytes"/>. The description names every reason.
/// </summary>
public sealed class CaptureHealthCheck(CdcState state, CaptureStatus status, IOptions<CdcOptions> options) : IHealthCheck
{
    /// <summary>How long a slot may stay inactive after streaming began (a reconnect takes a few seconds).</summary>
    public static readonly TimeSpan InactiveGrace = TimeSpan.FromSeconds(30);

    /// <summary>How long the confirmed position may stand still while WAL is written.</summary>
    public static readonly TimeSpan StallAfter = TimeSpan.FromMinutes(2);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (status.IdleReason is { } idle)
        {
            return Task.FromResult(HealthCheckResult.Healthy($"CDC capture is idle: {idle}."));
        }

        var settings = options.Value;
        var now = DateTimeOffset.UtcNow;
        var reasons = new List<string>();
        reasons.AddRange(state.Tables.Where(t => t.Status == CdcTableStatus.Refused).Select(t => $"{t.Table} refused: {t.Error}"));

        var slot = state.Slot;
        if (status.StreamingSince is not { } since)
        {
            if (status.LastError is { } error)
            {
                reasons.Add($"capture is not streaming: {error}");
            }
        }
        else if (slot is not null)
        {
            if (!slot.Active && now - since > InactiveGrace)
            {
                reasons.Add($"slot {settings.Slot} is not active (nothing reads it){(status.LastError is { } error ? ": " + error : "")}");
            }

            var (_, confirmedAt) = status.LastConfirmed;
            if (slot.CaptureLagBytes > 0 && now - (confirmedAt ?? since) > StallAfter)
            {
                reasons.Add($"slot {settings.Slot} has not advanced for {(int)(now - (confirmedAt ?? since)).TotalSeconds} s ({slot.CaptureLagBytes} bytes of WAL not confirmed)");
            }
        }

        if (slot is not null && slot.RetainedBytes > settings.SlotSizeWarningBytes)
        {
            reasons.Add($"slot {settings.Slot} retains {slot.RetainedBytes} bytes of WAL (warning at {settings.SlotSizeWarningBytes}): the server cannot remove it until the slot advances; " +
                "if the bridge is gone for good, drop the slot");
        }

        // Which tables flow, so an operator (and a test) sees a table picked up or refused.
        var flowing = string.Join(", ", state.Tables.Where(t => t.Status == CdcTableStatus.Streaming).Select(t => t.Table));
        var snapshotting = string.Join(", ", state.Tables.Where(t => t.Status == CdcTableStatus.Snapshotting).Select(t => t.Table));
        var tables = $"streaming: {(flowing.Length > 0 ? flowing : "none")}" + (snapshotting.Length > 0 ? $"; snapshotting: {snapshotting}" : "");
        if (reasons.Count > 0)
        {
            return Task.FromResult(HealthCheckResult.Degraded($"CDC capture: {string.Join("; ", reasons)}. {tables}."));
        }

        return Task.FromResult(HealthCheckResult.Healthy(status.StreamingSince is null
            ? $"CDC capture is starting. {tables}."
            : $"CDC capture {tables}; slot retains {slot?.RetainedBytes ?? 0} bytes, capture lag {slot?.CaptureLagBytes ?? 0} bytes."));
    }
}
