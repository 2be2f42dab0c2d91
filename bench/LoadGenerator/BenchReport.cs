using System.Globalization;
using LoadGenerator.Events;
using LoadGenerator.Load;
using LoadGenerator.Measuring;
using LoadGenerator.Platform;

namespace LoadGenerator;

/// <summary>One measured send phase: what was sent, how fresh it was, how long it took to be stored, and the CPU meanwhile.</summary>
public sealed record Phase(BenchOptions Options, LoadResult Load, FreshnessProbes Probes, DrainResult Drain, CpuUsage SendCpu, CpuUsage DrainCpu, CpuUsage WholeCpu)
{
    /// <summary>Accepted events over the time from the first send until every one of them was queryable.</summary>
    public double EndToEndPerSecond => Drain.Complete ? Load.Accepted / (Load.Elapsed + Drain.SinceSendEnd).TotalSeconds : double.NaN;

    /// <summary>CPU the platform's processes spent per accepted event from the first send until all were stored: contention elsewhere barely moves it.</summary>
    public double PlatformMicrosecondsPerEvent =>
        WholeCpu.Components.Where(c => CpuUsage.IsPlatform(c.Component)).Sum(c => WholeCpu.MicrosecondsPerEvent(c.Percent, Load.Accepted));
}

/// <summary>ClickHouse's background merges after a phase was stored: how long until none ran, and the CPU meanwhile.</summary>
public sealed record MergeDebt(TimeSpan Settled, CpuUsage Cpu);

/// <summary>
/// The figures of one run as a table, and the verdict against the targets: 50k events/s end to end at full speed with at
/// most 36 us of platform CPU per event, and p95 freshness at most 1 s while offered half that measured rate.
/// </summary>
public sealed class BenchReport(
    BenchOptions options,
    BenchPlatform platform,
    string runId,
    RequestBodies bodies,
    Phase full,
    MergeDebt merges,
    Phase? half,
    IReadOnlyList<TenantCount> counts,
    RawInsertResult? raw,
    int offsetResets)
{
    public const double TargetEventsPerSecond = 50_000;
    public const double TargetMicrosecondsPerEvent = 36;
    public static readonly TimeSpan TargetFreshnessP95 = TimeSpan.FromSeconds(1);

    private readonly LoadResult load = full.Load;
    private readonly FreshnessProbes probes = full.Probes;
    private readonly DrainResult drain = full.Drain;
    private readonly CpuUsage sendCpu = full.SendCpu;
    private readonly CpuUsage drainCpu = full.DrainCpu;
    private readonly CpuUsage wholeCpu = full.WholeCpu;
    private readonly TimeSpan drainTime = full.Drain.SinceSendEnd;

    public long Lost => counts.Sum(c => c.Lost);

    public long QueriedDuplicates => counts.Sum(c => c.QueriedDuplicates);

    public bool Passed => load.Accepted > 0 && Lost == 0 && QueriedDuplicates == 0;

    public double EndToEndPerSecond => full.EndToEndPerSecond;

    public void Print(TextWriter o)
    {
        var freshness = probes.Freshness;

        o.WriteLine();
        o.WriteLine($"== Benchmark {runId} ==");
        Row(o, "mode", Benchmark.Describe(options));
        Row(o, "bodies", $"{bodies.AverageLength / bodies.EventsPerRequest:N0} bytes/event, {bodies.AverageLength / 1024:N1} KiB/request{(options.Gzip ? $" ({load.BodyBytes / Math.Max(1, load.Requests) / 1024.0:N1} KiB gzip)" : "")}");
        Row(o, "machine", $"{Environment.ProcessorCount} cores; generator {Configuration} build");
        Row(o, "platform", platform.Description);
        if (platform.Overrides.Count > 0)
        {
            Row(o, "platform settings", string.Join(", ", platform.Overrides.Select(s => $"{s.Key}={s.Value}")));
        }

        o.WriteLine();
        o.WriteLine("Intake (Collector, POST /v1/events)");
        Row(o, "accepted", $"{load.Accepted:N0} events in {load.Elapsed.TotalSeconds:0.0} s = {load.AcceptedPerSecondAverage:N0} events/s ({load.Requests / load.Elapsed.TotalSeconds:N0} requests/s)");
        if (load.AcceptedEachSecond.Length > 0)
        {
            // The whole series, so a warm-up, a stall or a slow decline shows rather than hides in an average.
            Row(o, "each second (k/s)", string.Join(" ", load.AcceptedEachSecond.Select(v => (v / 1000.0).ToString("0.#", CultureInfo.InvariantCulture))));
        }

        Row(o, "request latency", Quantiles(load.LatencyMs, ms => Ms(ms)) + $" ({load.LatencyMs.Count:N0} accepted requests)");
        Row(o, "retries / failures", load.Retries == 0 && load.Failures.Count == 0
            ? "none"
            : $"{load.Retries:N0} retries; {string.Join(", ", load.Failures.Select(f => $"{f.Value:N0} x {f.Key}"))}");
        if (load.UnacknowledgedEvents > 0 || load.RefusedEvents > 0)
        {
            Row(o, "not acknowledged", $"{load.UnacknowledgedEvents:N0} events given up, {load.RefusedEvents:N0} refused in 202 answers");
        }

        o.WriteLine();
        o.WriteLine("End to end (sent -> queryable in ClickHouse raw_events)");
        Row(o, "freshness", Quantiles(freshness, ms => Ms(ms))
            + $" ({freshness.Count:N0} probes; poll every {probes.AveragePollIntervalMs:N0} ms, query {probes.AverageQueryMs:N0} ms: figures are late by up to one poll)");
        if (probes.Unseen > 0)
        {
            Row(o, "probes never seen", $"{probes.Unseen:N0}");
        }

        Row(o, "all queryable", drain.Complete
            ? $"{drainTime.TotalSeconds:0.0} s after the last send = {EndToEndPerSecond:N0} events/s end to end"
            : $"NO: {drain.Reason} ({drainTime.TotalSeconds:0.0} s after the last send)");
        if (drain.Complete)
        {
            // A small backlog drains at the Ingestor's batch delay, which says nothing about its pace.
            Row(o, "backlog at last send", drain.Backlog >= 50_000 && !double.IsNaN(drain.StoredPerSecond)
                ? $"{drain.Backlog:N0} events, stored at {drain.StoredPerSecond:N0} events/s once the Collector was idle (the Ingestor's own pace)"
                : $"{drain.Backlog:N0} events");
        }

        o.WriteLine();
        o.WriteLine("Accounting per tenant, warm-up included (accepted = acknowledged by 202; stored = rows in raw_events; api = GET /v1/events/count)");
        o.WriteLine($"  {"tenant",-24} {"accepted",12} {"stored rows",12} {"distinct",12} {"api count",12} {"lost",8} {"dup rows",9}");
        foreach (var c in counts)
        {
            o.WriteLine($"  {c.TenantId,-24} {c.Accepted,12:N0} {c.StoredRows,12:N0} {c.StoredDistinct,12:N0} {c.ApiCount,12:N0} {c.Lost,8:N0} {c.DuplicateRows,9:N0}");
        }

        Row(o, "lost", $"{Lost:N0}{(Lost == 0 ? "" : "  <-- acknowledged events missing")}");
        Row(o, "duplicate rows stored", $"{counts.Sum(c => c.DuplicateRows):N0} (redelivered copies; queries count distinct event_id)");
        Row(o, "queried duplicates", $"{QueriedDuplicates:N0}{(QueriedDuplicates == 0 ? "" : "  <-- the Api counts events twice")}");
        if (offsetResets > 0)
        {
            Row(o, "why lost", $"the Ingestor fell further behind than the broker retains: librdkafka reset its offsets {offsetResets:N0} times"
                + " ('Offset out of range' in the Ingestor's log) and skipped the events in between. The development broker"
                + " (librdkafka's mock cluster) keeps about 5 MiB per partition; offer less (--rate) or keep the Ingestor fed with CPU.");
        }
        if (counts.Sum(c => c.StoredUnacknowledged) is > 0 and var extra)
        {
            Row(o, "stored unacknowledged", $"{extra:N0} (from given-up requests: stored although no 202 said so)");
        }

        o.WriteLine();
        o.WriteLine("Raw ClickHouse insert of the same rows (scratch copy of raw_events, one batch at a time)");
        if (raw is null)
        {
            Row(o, "insert rate", "skipped");
        }
        else
        {
            Row(o, "rows", $"{raw.Rows:N0} in {raw.Batches:N0} batches of up to {options.RawBatchRows:N0} ({raw.Bytes / (double)raw.Rows:N0} bytes/row as RowBinary, {raw.JsonBytes / (double)raw.Rows:N0} as JSON)");
            Row(o, "Ingestor's path", $"{raw.ClientTime.TotalSeconds:0.0} s = {raw.RowsPerSecond:N0} rows/s (RawEventRow into RowBinary and the insert)");
            Row(o, "ClickHouse alone", $"{raw.ServerTime.TotalSeconds:0.0} s = {raw.ServerRowsPerSecond:N0} rows/s (RowBinary, the fastest format it takes: the same batches ready-made)"
                + (double.IsNaN(EndToEndPerSecond) ? "" : $"; end to end reached {EndToEndPerSecond / raw.ServerRowsPerSecond:P0} of it"));
            Row(o, "ClickHouse, JSON", $"{raw.JsonServerTime.TotalSeconds:0.0} s = {raw.JsonServerRowsPerSecond:N0} rows/s (JSONEachRow ready-made, the format before: {raw.JsonServerTime / raw.ServerTime:0.0}x RowBinary's time)");
        }

        if (half is not null)
        {
            var fresh = half.Probes.Freshness;
            o.WriteLine();
            o.WriteLine($"At half the measured end-to-end rate (offered {half.Options.Rate:N0} events/s for {half.Load.Elapsed.TotalSeconds:0.0} s)");
            Row(o, "accepted", $"{half.Load.Accepted:N0} events = {half.Load.AcceptedPerSecondAverage:N0} events/s; request latency {Quantiles(half.Load.LatencyMs, ms => Ms(ms))}");
            Row(o, "freshness", Quantiles(fresh, ms => Ms(ms)) + $" ({fresh.Count:N0} probes)");
            Row(o, "CPU while sending", Cpu(half.SendCpu) + (half.Drain.Complete ? $"; platform {half.PlatformMicrosecondsPerEvent:N0} us/event" : ""));
        }

        o.WriteLine();
        o.WriteLine($"CPU, % of one core ({sendCpu.Cores} cores = {sendCpu.Cores * 100}%)");
        Row(o, "while sending", Cpu(sendCpu));
        Row(o, "while draining", Cpu(drainCpu));
        if (drain.Complete)
        {
            Row(o, "per event (send+drain)", $"{string.Join(", ", wholeCpu.Components.Where(c => CpuUsage.IsPlatform(c.Component)).Select(c => $"{c.Component} {wholeCpu.MicrosecondsPerEvent(c.Percent, load.Accepted):N0}"))} us"
                + $" = platform {PlatformMicrosecondsPerEvent:N0} us/event (generator {wholeCpu.MicrosecondsPerEvent(Percent(wholeCpu, "load generator"), load.Accepted):N0} us)");
            var mergeMicroseconds = merges.Cpu.MicrosecondsPerEvent(Percent(merges.Cpu, "clickhouse"), load.Accepted);
            Row(o, "merges afterwards", $"ClickHouse merged parts for {merges.Settled.TotalSeconds:0} s after the drain: {mergeMicroseconds:N0} us/event more,"
                + $" {PlatformMicrosecondsPerEvent + mergeMicroseconds:N0} us/event with them (not in the figure above, as before: the load's cost deferred)");
            Row(o, "CPU ceiling", $"{wholeCpu.Cores} cores / {PlatformMicrosecondsPerEvent:N0} us = {CpuCeiling:N0} events/s for the platform alone;"
                + $" {K(TargetEventsPerSecond)}/s needs at most {TargetMicrosecondsPerEvent:N0} us/event on {wholeCpu.Cores} cores");
        }

        if (sendCpu.Components.FirstOrDefault(c => c.Component == "other").Percent is >= 20 and var other)
        {
            o.WriteLine($"  warning: other processes took {other:N0}% of a core while sending; the platform's figures understate what this machine can do.");
        }

        o.WriteLine();
        o.WriteLine("Verdict: " + Verdict());
        o.WriteLine(Passed ? "PASS: no acknowledged event lost, none counted twice." : "FAIL: " + (load.Accepted == 0 ? "nothing was accepted." : "acknowledged events lost or counted twice."));
    }

    /// <summary>One line against the three goals; freshness from the half-rate phase when there was one.</summary>
    private string Verdict()
    {
        var rate = double.IsNaN(EndToEndPerSecond) ? load.AcceptedPerSecondAverage : EndToEndPerSecond;
        var rateText = double.IsNaN(EndToEndPerSecond)
            ? $"{K(load.AcceptedPerSecondAverage)} events/s accepted, end to end unknown (not all stored)"
            : $"{K(load.AcceptedPerSecondAverage)} events/s accepted, {K(EndToEndPerSecond)}/s end to end";
        var throughput = !double.IsNaN(EndToEndPerSecond) && rate >= TargetEventsPerSecond ? "met" : "missed";
        var cpuGoal = !drain.Complete ? "unknown" : PlatformMicrosecondsPerEvent <= TargetMicrosecondsPerEvent ? "met" : "missed";
        var freshPhase = half ?? full;
        var p95 = freshPhase.Probes.Freshness[95];
        var fresh = double.IsNaN(p95) ? "no probe seen" : p95 <= TargetFreshnessP95.TotalMilliseconds ? "met" : "missed";
        var freshAt = half is null ? (options.Rate > 0 ? $"at --rate {options.Rate:N0}" : "at full speed") : $"at half rate ({half.Options.Rate:N0}/s)";
        var busiest = sendCpu.Components.Where(c => c.Component is not ("other" or "unattributed")).Take(3).Select(c => $"{c.Component} {c.Percent:N0}%");
        var bound = options.Rate > 0 && load.AcceptedPerSecondAverage >= 0.95 * options.Rate
            ? $"bounded by the offered rate (--rate {options.Rate:N0}); machine {sendCpu.MachineBusyPercent:N0}% of {sendCpu.Cores * 100}% busy"
            : sendCpu.MachineBusyPercent >= 0.85 * sendCpu.Cores * 100
            ? $"CPU-bound: machine {sendCpu.MachineBusyPercent:N0}% of {sendCpu.Cores * 100}% busy; largest {string.Join(", ", busiest)}"
            : $"not CPU-bound (machine {sendCpu.MachineBusyPercent:N0}% of {sendCpu.Cores * 100}% busy): more concurrency or larger batches may go further";
        var all = throughput == "met" && cpuGoal == "met" && fresh == "met" && Passed ? "GOAL MET" : "goal not met";
        return $"{all}: {rateText} (target {K(TargetEventsPerSecond)}/s: {throughput}); platform CPU {PlatformMicrosecondsPerEvent:N0} us/event (target <= {TargetMicrosecondsPerEvent:N0}: {cpuGoal}); "
            + $"p95 freshness {Ms(p95)} {freshAt} (target <= 1 s: {fresh}); lost {Lost:N0}, counted twice {QueriedDuplicates:N0}. {bound}.";
    }

    public double PlatformMicrosecondsPerEvent => full.PlatformMicrosecondsPerEvent;

    /// <summary>Events per second the machine's cores could carry end to end at that cost, with nothing else running.</summary>
    public double CpuCeiling => wholeCpu.Cores * 1e6 / PlatformMicrosecondsPerEvent;

    private static double Percent(CpuUsage usage, string component) => usage.Components.FirstOrDefault(c => c.Component == component).Percent;

    private static string Configuration =>
        typeof(BenchReport).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyConfigurationAttribute), false)
            .Cast<System.Reflection.AssemblyConfigurationAttribute>().FirstOrDefault()?.Configuration ?? "unknown";

    private static string Cpu(CpuUsage usage) =>
        string.Join(", ", usage.Components.Select(c => $"{c.Component} {c.Percent:N0}%")) + $"; machine {usage.MachineBusyPercent:N0}% busy";

    private static string Quantiles(Percentiles p, Func<double, string> format) =>
        p.Count == 0 ? "no samples" : $"p50 {format(p[50])}, p95 {format(p[95])}, p99 {format(p[99])}, max {format(p.Max)}";

    private static string Ms(double ms) =>
        double.IsNaN(ms) ? "n/a" : ms >= 1000 ? (ms / 1000).ToString("0.00 's'", CultureInfo.InvariantCulture) : ms.ToString("0.0 'ms'", CultureInfo.InvariantCulture);

    private static string K(double perSecond) => (perSecond / 1000).ToString("0.0'k'", CultureInfo.InvariantCulture);

    private static void Row(TextWriter o, string label, string value) => o.WriteLine($"  {label,-22} {value}");
}
