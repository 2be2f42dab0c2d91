using System.Diagnostics;
using System.Security.Cryptography;
using LoadGenerator.Events;
using LoadGenerator.Load;
using LoadGenerator.Measuring;
using LoadGenerator.Platform;
using Platform.ClickHouse;

namespace LoadGenerator;

/// <summary>One run: platform, tenants, send phase (with freshness probes), drain, accounting, raw insert comparison, report.</summary>
public static class Benchmark
{
    // The Collector's defaults (CollectorOptions); raised only for a platform this run starts, and only when a body needs it.
    private const int CollectorMaxRequestBytes = 500 * 1024;
    private const int CollectorMaxEventsPerRequest = 2_000;

    public static async Task<int> RunAsync(BenchOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        var runId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var ids = new EventIds(runId);
        var bodies = new RequestBodies(new EventCatalog(), options.EventsPerRequest, options.Mode == SendMode.Batch, LoadRunner.TemplatesFor(options.Mode));

        await using var platform = options.EndpointsFile is { } endpoints
            ? await BenchPlatform.AttachAsync(endpoints, cancellationToken)
            : await BenchPlatform.StartAsync(options.StateDirectory, options.KeepData, PlatformSettings(options, bodies), output, cancellationToken);
        if (!platform.IsOwn && bodies.MaxLength > CollectorMaxRequestBytes)
        {
            output.WriteLine($"warning: bodies of up to {bodies.MaxLength:N0} bytes exceed the Collector's default limit ({CollectorMaxRequestBytes:N0}); expect 413 unless it was raised.");
        }

        using var clickHouseHttp = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        var clickHouse = new ClickHouseClient(clickHouseHttp, ClickHouseConnectionSettings.Parse(platform.ClickHouse));
        var tenants = await BenchTenants.CreateAsync(platform.TenantStore, runId, options.Tenants, cancellationToken);
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5); // event times are send times; the margin covers clock steps
        var accounting = new Accounting(clickHouse, tenants, notBefore);
        try
        {
            var cpu = new CpuSampler(platform.StateDirectory);
            var runner = new LoadRunner(options, platform.Collector, tenants, bodies, ids);

            output.WriteLine($"Run {runId}: {Describe(options)} against {platform.Description}.");
            var warmup = await WarmUpAsync(options, runner, accounting, output, cancellationToken);
            var ingestorLog = new IngestorLog(platform.StateDirectory);
            ingestorLog.Mark();
            var full = await MeasureAsync(options, runner, clickHouse, tenants, notBefore, accounting, cpu, warmup.Sum(), output, cancellationToken);

            // The merges the load left are work it caused too: measured, and waited out so the next phase starts as a fresh run would.
            var beforeMerges = cpu.Take();
            var mergesSettled = await ClickHouseMerges.SettledAsync(clickHouse, TimeSpan.FromMinutes(2), cancellationToken);
            var merges = new MergeDebt(mergesSettled, CpuSampler.Between(beforeMerges, cpu.Take()));

            // Freshness is judged at half the measured end-to-end rate: a load the pipeline carries with room to spare.
            Phase? half = null;
            if (options.HalfRatePhase && options.Rate == 0 && full.Drain.Complete && full.EndToEndPerSecond >= 2)
            {
                var halfOptions = options.AtRate((int)(full.EndToEndPerSecond / 2));
                output.WriteLine($"Offering half that end-to-end rate, {halfOptions.Rate:N0} events/s, for {options.Duration.TotalSeconds:0} s ...");
                half = await MeasureAsync(halfOptions, new LoadRunner(halfOptions, platform.Collector, tenants, bodies, ids), clickHouse, tenants, notBefore, accounting, cpu,
                    warmup.Sum() + full.Load.Accepted, output, cancellationToken);
            }

            var acceptedPerTenant = warmup.Zip(full.Load.AcceptedPerTenant, (w, m) => w + m).Zip(half?.Load.AcceptedPerTenant ?? new long[warmup.Length], (a, h) => a + h).ToArray();
            var counts = await accounting.CountAsync(platform.Api, acceptedPerTenant, cancellationToken);

            RawInsertResult? raw = null;
            if (options.RawInsert && full.Load.Accepted > 0)
            {
                output.WriteLine($"Inserting {full.Load.Accepted:N0} rows straight into a scratch copy of raw_events ...");
                raw = await new RawInsertBenchmark(clickHouse, clickHouseHttp, ids).RunAsync(full.Load.Accepted, options.RawBatchRows, tenants[0].Id, cancellationToken);
            }

            var report = new BenchReport(options, platform, runId, bodies, full, merges, half, counts, raw, ingestorLog.OffsetResetsSinceMark());
            report.Print(output);
            if (!report.Passed)
            {
                // The logs are the evidence; a temporary state folder would take them along.
                platform.KeepState();
                output.WriteLine($"The platform's logs are in {ingestorLog.Directory}.");
            }

            return report.Passed ? 0 : 1;
        }
        finally
        {
            if (!platform.IsOwn && !options.KeepData)
            {
                await CleanUpAsync(platform, tenants, accounting, output);
            }
        }
    }

    /// <summary>One measured send phase with freshness probes, until every event it had acknowledged was stored.</summary>
    private static async Task<Phase> MeasureAsync(BenchOptions options, LoadRunner runner, ClickHouseClient clickHouse, IReadOnlyList<BenchTenant> tenants,
        DateTimeOffset notBefore, Accounting accounting, CpuSampler cpu, long acceptedBefore, TextWriter output, CancellationToken cancellationToken)
    {
        var probes = new FreshnessProbes(clickHouse, tenants.Select(t => t.Id).ToList(), notBefore, options.ProbeInterval);
        using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var drained = new CancellationTokenSource();
        var poller = probes.PollAsync(options.PollInterval, drained.Token, stopPolling.Token);

        var profiler = options.ProfileDirectory is { } traces ? new Profiler(cpu.StateDirectory, traces, output) : null;
        profiler?.Start(options.Duration);
        var beforeSend = cpu.Take();
        var load = await runner.RunAsync(options.Duration, probes, cancellationToken);
        var sendEnd = Stopwatch.GetTimestamp();
        var afterSend = cpu.Take();
        output.WriteLine($"Sent for {load.Elapsed.TotalSeconds:0.0} s: {load.Accepted:N0} events accepted; waiting until ClickHouse holds them ...");

        var drain = await accounting.WaitUntilStoredAsync(acceptedBefore + load.Accepted, sendEnd, options.DrainTimeout, cancellationToken);
        var afterDrain = cpu.Take();
        await drained.CancelAsync();
        if (await Task.WhenAny(poller, Task.Delay(TimeSpan.FromSeconds(5), cancellationToken)) != poller)
        {
            await stopPolling.CancelAsync();
        }

        await poller;
        if (profiler is not null)
        {
            await profiler.ReportAsync(cancellationToken);
        }

        return new Phase(options, load, probes, drain, CpuSampler.Between(beforeSend, afterSend), CpuSampler.Between(afterSend, afterDrain), CpuSampler.Between(beforeSend, afterDrain));
    }

    /// <summary>
    /// Sends unmeasured for the warm-up time, then waits until all of it is stored, so the measured phase
    /// starts with settled JIT and an empty backlog. Its events count in the loss accounting like any other.
    /// </summary>
    private static async Task<long[]> WarmUpAsync(BenchOptions options, LoadRunner runner, Accounting accounting, TextWriter output, CancellationToken cancellationToken)
    {
        if (options.Warmup <= TimeSpan.Zero)
        {
            return new long[options.Tenants];
        }

        var warmup = await runner.RunAsync(options.Warmup, probes: null, cancellationToken);
        var drained = await accounting.WaitUntilStoredAsync(warmup.Accepted, Stopwatch.GetTimestamp(), options.DrainTimeout, cancellationToken);
        output.WriteLine($"Warm-up: {warmup.Accepted:N0} events in {warmup.Elapsed.TotalSeconds:0.0} s, "
            + (drained.Complete ? $"stored {drained.SinceSendEnd.TotalSeconds:0.0} s later." : $"not all stored ({drained.Reason}); measuring anyway."));
        return warmup.AcceptedPerTenant;
    }

    /// <summary>
    /// What a platform this run starts is told: no rate limit in the way, bodies as large as the chosen batch, no scheduled
    /// Transformer builds unless --with-transformer, and the caller's --set values.
    /// </summary>
    private static Dictionary<string, string> PlatformSettings(BenchOptions options, RequestBodies bodies)
    {
        var settings = new Dictionary<string, string>
        {
            ["Collector__RateLimits__EventsPerSecondPerTenant"] = "1000000000",
            ["Collector__RateLimits__RequestsPerSecondPerClient"] = "1000000000",
        };
        if (!options.WithTransformer)
        {
            // Measured 2026-12-07: with the schedule on, rebuilding today's models over the run's millions of rows took
            // ClickHouse from 28% to 107% of a core at half rate, and p95 freshness from 0.86 to 1.26 s.
            settings["Transformer__ScheduleEnabled"] = "false";
        }

        if (bodies.MaxLength > CollectorMaxRequestBytes)
        {
            settings["Collector__MaxRequestBytes"] = (bodies.MaxLength + 64 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (bodies.EventsPerRequest > CollectorMaxEventsPerRequest)
        {
            settings["Collector__MaxEventsPerRequest"] = bodies.EventsPerRequest.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        foreach (var (key, value) in options.Settings)
        {
            settings[key] = value;
        }

        // A value already in the environment is the caller's choice; keep it.
        return settings.Where(s => Environment.GetEnvironmentVariable(s.Key) is null || options.Settings.ContainsKey(s.Key))
            .ToDictionary(s => s.Key, s => s.Value);
    }

    private static async Task CleanUpAsync(BenchPlatform platform, IReadOnlyList<BenchTenant> tenants, Accounting accounting, TextWriter output)
    {
        try
        {
            await accounting.DeleteAsync(CancellationToken.None);
            await BenchTenants.RevokeAsync(platform.TenantStore, tenants);
            output.WriteLine($"Cleaned up: the run's rows are being deleted from raw_events and its keys are revoked (--keep-data keeps them).");
        }
        catch (Exception ex) when (ex is ClickHouseServerException or ClickHouseUnavailableException or Npgsql.NpgsqlException)
        {
            output.WriteLine($"warning: cleaning up the run's rows and keys failed: {ex.Message}");
        }
    }

    public static string Describe(BenchOptions o) =>
        (o.Mode == SendMode.Batch ? $"batch mode, {o.BatchSize} events/request" : "single-event mode")
        + $", concurrency {o.Concurrency}, {o.Duration.TotalSeconds:0.#} s after {o.Warmup.TotalSeconds:0.#} s warm-up, {o.Tenants} tenants"
        + (o.Rate > 0 ? $", offered {o.Rate:N0} events/s" : ", full speed")
        + (o.Gzip ? ", gzip" : "");
}
