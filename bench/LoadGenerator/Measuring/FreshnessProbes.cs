using System.Collections.Concurrent;
using System.Diagnostics;
using Platform.ClickHouse;

namespace LoadGenerator.Measuring;

/// <summary>
/// Send-to-queryable freshness. A sample of accepted events (at most one per probe interval) is
/// remembered with its send time; a poller asks ClickHouse every poll interval which of them
/// <c>raw_events</c> shows. An event's freshness is the start of the first query that saw it minus its
/// send time, so each figure is late by at most one poll interval plus one query.
/// </summary>
public sealed class FreshnessProbes(ClickHouseClient clickHouse, IReadOnlyList<string> tenantIds, DateTimeOffset notBefore, TimeSpan probeInterval)
{
    // Keeps the IN list well under ClickHouse's 256 KiB max_query_size; the oldest are asked first.
    private const int MaxIdsPerQuery = 3000;

    private readonly ConcurrentQueue<Probe> _incoming = new();
    private readonly List<Probe> _pending = [];
    private readonly List<double> _freshnessMs = [];
    private readonly long _probeTicks = (long)(probeInterval.TotalSeconds * Stopwatch.Frequency);
    private long _nextProbe;
    private long _polls;
    private double _pollSeconds;
    private double _querySeconds;

    public int Sent { get; private set; }

    /// <summary>Probes accepted by the Collector but never seen in ClickHouse while the poller ran.</summary>
    public int Unseen => _pending.Count + _incoming.Count;

    public Percentiles Freshness => new(_freshnessMs);

    public double AveragePollIntervalMs => _polls <= 1 ? double.NaN : _pollSeconds / (_polls - 1) * 1000;

    public double AverageQueryMs => _polls == 0 ? double.NaN : _querySeconds / _polls * 1000;

    /// <summary>True at most once per probe interval across all workers: this request carries a probe.</summary>
    public bool TryTake(long now)
    {
        var next = Volatile.Read(ref _nextProbe);
        return now >= next && Interlocked.CompareExchange(ref _nextProbe, now + _probeTicks, next) == next;
    }

    public void Accepted(string eventId, long sentTimestamp) => _incoming.Enqueue(new Probe(eventId, sentTimestamp));

    /// <summary>Polls until cancelled; after <paramref name="finishWhenEmpty"/> is cancelled it stops as soon as every probe has been seen.</summary>
    public async Task PollAsync(TimeSpan interval, CancellationToken finishWhenEmpty, CancellationToken stop)
    {
        var table = ClickHouseSql.Table(clickHouse.Settings.Database, "raw_events");
        var tenants = ClickHouseSql.List(tenantIds);
        var since = ClickHouseSql.Literal(notBefore);
        using var timer = new PeriodicTimer(interval);
        long previousStart = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                while (_incoming.TryDequeue(out var probe))
                {
                    _pending.Add(probe);
                    Sent++;
                }

                if (_pending.Count == 0)
                {
                    if (finishWhenEmpty.IsCancellationRequested)
                    {
                        return;
                    }

                    continue;
                }

                var asked = _pending.Take(MaxIdsPerQuery).ToList();
                var started = Stopwatch.GetTimestamp();
                string seenText;
                try
                {
                    // The probes' days name the key's second column, so the key narrows the read to the granules of the probe ids;
                    // with event_time alone every poll read the ids of every event the run had stored (its own CPU counted as ClickHouse's).
                    var today = DateOnly.FromDateTime(DateTime.UtcNow);
                    seenText = await clickHouse.QueryScalarAsync(
                        $"SELECT event_id FROM {table} WHERE tenant_id IN ({tenants}) AND toDate(event_time) IN ({ClickHouseSql.Literal(today.AddDays(-1))}, {ClickHouseSql.Literal(today)})"
                        + $" AND event_time >= {since} AND event_id IN ({ClickHouseSql.List(asked.Select(p => p.EventId))})",
                        cancellationToken: stop);
                }
                catch (Exception ex) when (ex is ClickHouseServerException or ClickHouseUnavailableException or HttpRequestException)
                {
                    continue; // a missed poll only coarsens the figures; the next tick asks again
                }

                _querySeconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
                if (previousStart != 0)
                {
                    _pollSeconds += (started - previousStart) / (double)Stopwatch.Frequency;
                }

                previousStart = started;
                _polls++;
                var seen = seenText.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
                foreach (var probe in asked.Where(p => seen.Contains(p.EventId)))
                {
                    _freshnessMs.Add((started - probe.SentTimestamp) * 1000.0 / Stopwatch.Frequency);
                }

                _pending.RemoveAll(p => seen.Contains(p.EventId));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private sealed record Probe(string EventId, long SentTimestamp);
}
