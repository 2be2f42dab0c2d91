namespace Ingestor.Cdc.Capture;

/// <summary>What the capture loop says about itself beyond <see cref="CdcState"/>: whether it should be streaming, its last failure, and when the slot last advanced.</summary>
public sealed class CaptureStatus
{
    private readonly Lock _lock = new();
    private string? _lastError;
    private ulong _confirmedLsn;
    private DateTimeOffset? _confirmedAt;

    /// <summary>Why capture is idle (off, nothing configured, no app database); null while it runs.</summary>
    public string? IdleReason { get; set; }

    public string TenantId { get; set; } = "";

    /// <summary>Set once the tables are checked and the slot exists: from then on the slot should be active and advancing.</summary>
    public DateTimeOffset? StreamingSince { get; set; }

    public string? LastError
    {
        get { lock (_lock) { return _lastError; } }
        set { lock (_lock) { _lastError = value; } }
    }

    /// <summary>The last position this process confirmed, and when it moved.</summary>
    public (ulong Lsn, DateTimeOffset? At) LastConfirmed
    {
        get { lock (_lock) { return (_confirmedLsn, _confirmedAt); } }
    }

    public void Confirmed(ulong lsn)
    {
        lock (_lock)
        {
            if (lsn > _confirmedLsn)
            {
                _confirmedLsn = lsn;
                _confirmedAt = DateTimeOffset.UtcNow;
            }
        }
    }
}
