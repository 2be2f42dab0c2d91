using System.Collections.Concurrent;

namespace Ingestor.Cdc;

/// <summary>
/// What the bridge knows about itself, shared by its capture side (PostgreSQL -> Kafka) and its apply
/// side (Kafka -> ClickHouse), and read by the status endpoint, the health check and the gauges.
/// </summary>
public sealed class CdcState
{
    private readonly ConcurrentDictionary<string, CdcTableState> _tables = new(StringComparer.Ordinal);
    private SlotSample? _slot;

    public CdcTableState Table(CdcTable table) => _tables.GetOrAdd(table.QualifiedName, _ => new CdcTableState(table));

    public IReadOnlyList<CdcTableState> Tables => [.. _tables.Values.OrderBy(t => t.Table.QualifiedName, StringComparer.Ordinal)];

    /// <summary>The last sample of the slot and the server's WAL position; null until the capture side took one.</summary>
    public SlotSample? Slot
    {
        get => Volatile.Read(ref _slot);
        set => Volatile.Write(ref _slot, value);
    }

    /// <summary>The highest version (LSN) applied to ClickHouse over all tables; 0 before the first.</summary>
    public ulong AppliedLsn => _tables.Values.Select(t => t.AppliedLsn).DefaultIfEmpty(0UL).Max();
}

public enum CdcTableStatus
{
    /// <summary>Configured, not yet checked or snapshotted.</summary>
    Pending,
    /// <summary>Being copied by the initial snapshot.</summary>
    Snapshotting,
    /// <summary>Snapshot done (or not needed); changes flow.</summary>
    Streaming,
    /// <summary>Never replicated: missing, without a primary key, or a name the bridge does not accept. See the error.</summary>
    Refused,
    /// <summary>Its apply stopped on a change ClickHouse cannot take safely (a dropped or retyped column). See the error.</summary>
    Stopped,
}

/// <summary>One table's state. Capture writes status, snapshot and captured fields; apply writes the applied fields and Stopped.</summary>
public sealed class CdcTableState(CdcTable table)
{
    private readonly Lock _lock = new();

    public CdcTable Table { get; } = table;

    public CdcTableStatus Status { get; private set; } = CdcTableStatus.Pending;

    public string? Error { get; private set; }

    public ulong? SnapshotLsn { get; set; }

    public long SnapshotRows { get; set; }

    public long CapturedChanges;

    public long AppliedChanges;

    /// <summary>Rows ClickHouse refused because of their data since start, dead-lettered with its reason.</summary>
    public long RefusedByClickHouse;

    public ulong AppliedLsn { get; set; }

    public DateTimeOffset? LastAppliedCommitTime { get; set; }

    /// <summary>When and how Kafka last lost change records of the table, which made it snapshot again; null if never.</summary>
    public string? LastLoss { get; set; }

    public void Set(CdcTableStatus status, string? error = null)
    {
        lock (_lock)
        {
            // A stop or refusal is sticky until the process restarts: an operator has to look at it. A stop (the apply
            // side found changes it cannot take) outranks a refusal (the capture side's view of the source table).
            if ((Status == CdcTableStatus.Stopped && status != CdcTableStatus.Stopped)
                || (Status == CdcTableStatus.Refused && status is not (CdcTableStatus.Stopped or CdcTableStatus.Refused)))
            {
                return;
            }

            Status = status;
            Error = error;
        }
    }

    /// <summary>
    /// Capture re-checks refused tables (a table created or given a primary key later): one that now
    /// qualifies goes back to Pending. A Stopped table stays stopped.
    /// </summary>
    public void Reconsider()
    {
        lock (_lock)
        {
            if (Status == CdcTableStatus.Refused)
            {
                Status = CdcTableStatus.Pending;
                Error = null;
            }
        }
    }
}

/// <param name="WalLsn">pg_current_wal_lsn() when sampled.</param>
/// <param name="ConfirmedFlushLsn">The slot's confirmed position: every change before it is durably in Kafka.</param>
/// <param name="RestartLsn">The oldest WAL the slot holds back.</param>
public sealed record SlotSample(DateTimeOffset SampledAt, ulong WalLsn, ulong ConfirmedFlushLsn, ulong RestartLsn, bool Active)
{
    /// <summary>WAL the server keeps for the slot: what fills the disk if the slot stops advancing.</summary>
    public long RetainedBytes => (long)(WalLsn - Math.Min(WalLsn, RestartLsn));

    /// <summary>WAL written but not yet confirmed as in Kafka.</summary>
    public long CaptureLagBytes => (long)(WalLsn - Math.Min(WalLsn, ConfirmedFlushLsn));
}
