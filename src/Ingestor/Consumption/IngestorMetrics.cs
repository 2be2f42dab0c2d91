using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace Ingestor.Consumption;

/// <summary>The consumer's instruments, on the meter the service defaults export (<c>Platform.*</c>).</summary>
public sealed class IngestorMetrics
{
    public const string MeterName = "Platform.Ingestor";

    private readonly TimeProvider _time;
    private readonly MeterListener _totals = new();
    private readonly ConcurrentDictionary<string, long> _counted = new(StringComparer.Ordinal);
    private IReadOnlyList<Measurement<long>> _lag = [];
    private LagSample? _lastLag;

    public IngestorMetrics(IMeterFactory meterFactory, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        var meter = meterFactory.Create(MeterName);
        Consumed = meter.CreateCounter<long>("ingestor.events.consumed", "{event}", "Events read from the events topic (a record holds one or more).");
        Inserted = meter.CreateCounter<long>("ingestor.events.inserted", "{row}", "Rows ClickHouse acknowledged.");
        DuplicatesDropped = meter.CreateCounter<long>("ingestor.events.duplicates_dropped", "{event}",
            "Events dropped because the batch already held their (tenant_id, event_id).");
        DeadLettered = meter.CreateCounter<long>("ingestor.events.dead_lettered", "{event}", "Events (or unreadable records) sent to the dead-letter topic.");
        RefusedRows = meter.CreateCounter<long>("ingestor.events.refused_by_clickhouse", "{row}",
            "Rows ClickHouse refused because of their data, isolated from their batch and dead-lettered.");
        BatchRows = meter.CreateHistogram<long>("ingestor.batch.rows", "{row}", "Rows per insert.");
        InsertDuration = meter.CreateHistogram<double>("ingestor.insert.duration", "ms", "Duration of a successful insert.");
        meter.CreateObservableGauge("ingestor.consumer.lag", () => Volatile.Read(ref _lag), "{record}",
            "Per partition, records (each one or more events) not yet stored and committed: the high watermark minus the group's committed offset.");

        // Counters cannot be read back; the status endpoint gets their totals since start from a listener on this meter.
        _totals.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter) && instrument is Counter<long>)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _totals.SetMeasurementEventCallback<long>((instrument, value, _, _) => _counted.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value));
        _totals.Start();
    }

    public Counter<long> Consumed { get; }

    public Counter<long> Inserted { get; }

    public Counter<long> DuplicatesDropped { get; }

    public Counter<long> DeadLettered { get; }

    public Counter<long> RefusedRows { get; }

    public Histogram<long> BatchRows { get; }

    public Histogram<double> InsertDuration { get; }

    /// <summary>The last lag sample with its time (null before the first): what <c>GET /v1/status</c> reports.</summary>
    public LagSample? LastLag => Volatile.Read(ref _lastLag);

    /// <summary>A counter's total since this process started (0 when nothing was counted).</summary>
    public long Total(string counter) => _counted.GetValueOrDefault(counter);

    /// <summary>Replaces the lag the gauge reports; sampled elsewhere because asking the brokers blocks.</summary>
    public void ReportLag(IReadOnlyList<Measurement<long>> lag)
    {
        Volatile.Write(ref _lag, lag);
        var partitions = lag.Select(m => new PartitionLag(Tag(m, "messaging.destination.name"), int.TryParse(Tag(m, "messaging.destination.partition.id"), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : -1, m.Value)).ToList();
        Volatile.Write(ref _lastLag, new LagSample(_time.GetUtcNow(), partitions));
    }

    private static string Tag(Measurement<long> measurement, string key)
    {
        foreach (var tag in measurement.Tags)
        {
            if (tag.Key == key)
            {
                return tag.Value?.ToString() ?? "";
            }
        }

        return "";
    }
}

public sealed record PartitionLag(string Topic, int Partition, long Lag);

/// <summary>One lag sample: per assigned partition, records not yet stored and committed.</summary>
public sealed record LagSample(DateTimeOffset SampledAt, IReadOnlyList<PartitionLag> Partitions)
{
    public long Total => Partitions.Sum(p => p.Lag);
}
