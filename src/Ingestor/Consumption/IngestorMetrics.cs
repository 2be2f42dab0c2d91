using System.Diagnostics.Metrics;

namespace Ingestor.Consumption;

/// <summary>The consumer's instruments, on the meter the service defaults export (<c>Platform.*</c>).</summary>
public sealed class IngestorMetrics
{
    public const string MeterName = "Platform.Ingestor";

    private IReadOnlyList<Measurement<long>> _lag = [];

    public IngestorMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        Consumed = meter.CreateCounter<long>("ingestor.events.consumed", "{record}", "Records read from the events topic.");
        Inserted = meter.CreateCounter<long>("ingestor.events.inserted", "{row}", "Rows ClickHouse acknowledged.");
        DuplicatesDropped = meter.CreateCounter<long>("ingestor.events.duplicates_dropped", "{record}",
            "Records dropped because the batch already held their (tenant_id, event_id).");
        DeadLettered = meter.CreateCounter<long>("ingestor.events.dead_lettered", "{record}", "Records sent to the dead-letter topic.");
        BatchRows = meter.CreateHistogram<long>("ingestor.batch.rows", "{row}", "Rows per insert.");
        InsertDuration = meter.CreateHistogram<double>("ingestor.insert.duration", "ms", "Duration of a successful insert.");
        meter.CreateObservableGauge("ingestor.consumer.lag", () => Volatile.Read(ref _lag), "{record}",
            "Per partition, records not yet stored and committed: the high watermark minus the group's committed offset.");
    }

    public Counter<long> Consumed { get; }

    public Counter<long> Inserted { get; }

    public Counter<long> DuplicatesDropped { get; }

    public Counter<long> DeadLettered { get; }

    public Histogram<long> BatchRows { get; }

    public Histogram<double> InsertDuration { get; }

    /// <summary>Replaces the lag the gauge reports; sampled elsewhere because asking the brokers blocks.</summary>
    public void ReportLag(IReadOnlyList<Measurement<long>> lag) => Volatile.Write(ref _lag, lag);
}
