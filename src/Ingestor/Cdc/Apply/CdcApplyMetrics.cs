using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Ingestor.Cdc.Apply;

/// <summary>
/// The apply side's instruments (meter <c>Platform.Ingestor.Cdc</c>) and the lag figures the status
/// endpoint reports, computed from <see cref="CdcState"/> and the change topics' consumer lag.
/// </summary>
public sealed class CdcApplyMetrics
{
    public const string MeterName = "Platform.Ingestor.Cdc";

    private readonly CdcState _state;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private long _deadLettered;
    private DateTimeOffset? _lagSampledAt;

    public CdcApplyMetrics(IMeterFactory meterFactory, CdcState state, TimeProvider? time = null)
    {
        _state = state;
        _time = time ?? TimeProvider.System;
        var meter = meterFactory.Create(MeterName);
        Applied = meter.CreateCounter<long>("cdc.changes.applied", "{change}", "Changes ClickHouse acknowledged, per table (snapshot rows included).");
        DeadLettered = meter.CreateCounter<long>("cdc.changes.dead_lettered", "{record}", "Change records sent to the CDC dead-letter topic, per table.");
        meter.CreateObservableGauge("cdc.replication.lag_bytes", () => ReplicationLagBytes() is { } lag ? [new Measurement<long>(lag)] : Array.Empty<Measurement<long>>(), "By",
            "WAL written on the server but not yet applied to ClickHouse (see docs/cdc-apply.md).");
        meter.CreateObservableGauge("cdc.apply.lag_seconds", () => _state.Tables.Select(t => new Measurement<double>(ApplyLagSeconds(t),
                new KeyValuePair<string, object?>("cdc.table", t.Table.QualifiedName))), "s",
            "Per table, how far behind the apply is while it has changes waiting (see docs/cdc-apply.md); 0 when it has none.");
    }

    public Counter<long> Applied { get; }

    public Counter<long> DeadLettered { get; }

    public long DeadLetteredTotal => Interlocked.Read(ref _deadLettered);

    public DateTimeOffset? LagSampledAt => _lagSampledAt;

    public void CountDeadLetter(CdcTable table)
    {
        Interlocked.Increment(ref _deadLettered);
        DeadLettered.Add(1, new KeyValuePair<string, object?>("cdc.table", table.QualifiedName));
    }

    /// <summary>Records a consumer lag sample: per table, change records on its topic not yet applied and committed.</summary>
    public void ReportPending(IReadOnlyDictionary<CdcTable, long> pending)
    {
        var now = _time.GetUtcNow();
        foreach (var (table, records) in pending)
        {
            _pending.AddOrUpdate(table.QualifiedName, _ => new Pending(records, records > 0 ? now : null),
                (_, old) => new Pending(records, records > 0 ? old.Since ?? now : null));
        }

        _lagSampledAt = now;
    }

    /// <summary>Records on the table's topic not yet applied at the last sample; null before the first sample.</summary>
    public long? PendingChanges(CdcTable table) => _pending.TryGetValue(table.QualifiedName, out var p) ? p.Records : null;

    /// <summary>
    /// While the table has changes waiting (its consumer lag was above 0 at the last sample): now minus the commit
    /// time of the newest change applied (or, before any was applied, minus when the wait was first seen). Else 0.
    /// </summary>
    public double ApplyLagSeconds(CdcTableState table)
    {
        if (!_pending.TryGetValue(table.Table.QualifiedName, out var pending) || pending.Records == 0)
        {
            return 0;
        }

        var since = table.LastAppliedCommitTime ?? pending.Since ?? _time.GetUtcNow();
        return Math.Max(0, (_time.GetUtcNow() - since).TotalSeconds);
    }

    /// <summary>The largest apply lag over the tables.</summary>
    public double ApplyLagSeconds() => _state.Tables.Select(ApplyLagSeconds).DefaultIfEmpty(0).Max();

    /// <summary>
    /// The slot's WAL position minus the applied position: <see cref="CdcState.AppliedLsn"/> while any change
    /// waits in Kafka; with none waiting, everything the slot confirmed is applied, so the applied position is
    /// at least the slot's confirmed flush LSN (an idle bridge shows its capture lag, not the WAL others wrote).
    /// Null before the capture side sampled the slot.
    /// </summary>
    public long? ReplicationLagBytes()
    {
        if (_state.Slot is not { } slot)
        {
            return null;
        }

        var applied = _state.AppliedLsn;
        var waiting = _pending.IsEmpty || _pending.Values.Any(p => p.Records > 0);
        if (!waiting)
        {
            applied = Math.Max(applied, slot.ConfirmedFlushLsn);
        }

        return (long)(slot.WalLsn - Math.Min(slot.WalLsn, applied));
    }

    private sealed record Pending(long Records, DateTimeOffset? Since);
}
