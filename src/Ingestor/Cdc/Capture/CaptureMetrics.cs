using System.Diagnostics.Metrics;

namespace Ingestor.Cdc.Capture;

/// <summary>The capture side's instruments, on the <c>Platform.Ingestor.Cdc</c> meter (exported with every <c>Platform.*</c> meter).</summary>
public sealed class CaptureMetrics
{
    public const string MeterName = "Platform.Ingestor.Cdc";

    public CaptureMetrics(IMeterFactory meterFactory, CdcState state)
    {
        var meter = meterFactory.Create(MeterName);
        Captured = meter.CreateCounter<long>("cdc.changes.captured", "{change}",
            "Streamed changes (inserts, updates, deletes) acknowledged by Kafka, per table (tag cdc.table); snapshot rows are not counted.");
        meter.CreateObservableGauge("cdc.slot.retained_bytes", () => Observe(state.Slot?.RetainedBytes), "By",
            "WAL the server keeps for the replication slot (current WAL position minus the slot's restart_lsn): what fills the disk if the slot stops advancing.");
        meter.CreateObservableGauge("cdc.capture.lag_bytes", () => Observe(state.Slot?.CaptureLagBytes), "By",
            "WAL written but not yet confirmed as in Kafka (current WAL position minus the slot's confirmed_flush_lsn).");
    }

    public Counter<long> Captured { get; }

    public void Count(CdcTable table, long changes) =>
        Captured.Add(changes, new KeyValuePair<string, object?>("cdc.table", table.QualifiedName));

    private static IEnumerable<Measurement<long>> Observe(long? value) => value is { } v ? [new Measurement<long>(v)] : [];
}
