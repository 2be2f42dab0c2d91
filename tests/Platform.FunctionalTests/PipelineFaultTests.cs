using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using AppHost.Infrastructure;
using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Platform.ClickHouse;
using Platform.Kafka;
using Platform.Testing;
using Xunit.Abstractions;

namespace Platform.FunctionalTests;

/// <summary>
/// Faults inside the pipeline, over the wire against real servers: the Ingestor crashing, ClickHouse
/// and Kafka going away. Every event the Collector acknowledged is counted, and counted once.
/// </summary>
public sealed class PipelineFaultTests(ITestOutputHelper output) : IAsyncLifetime
{
    // The Ingestor's consumer group and topic (IngestorOptions.ConsumerGroup, EventTopics.Events).
    private const string IngestorGroup = "ingestor";
    private const string EventsTopic = "events";

    private readonly FaultPlatform _platform = new();

    public Task InitializeAsync() => _platform.InitializeAsync();

    public Task DisposeAsync() => _platform.DisposeAsync();

    [Fact]
    public async Task AnIngestorKilledMidStreamAndRestartedCountsEveryAcceptedEventExactlyOnce()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var api = _platform.CreateApiClient(tenant.ReadKey);
        var sender = new EventSender(collector, "kill", batchSize: 25);

        using var stop = new CancellationTokenSource();
        var sending = sender.RunAsync(TimeSpan.FromMilliseconds(20), stop.Token);
        await Eventually.MatchesAsync(() => api.CountAsync(), r => (long)r["total"]! >= 100); // mid-stream: stored and still flowing
        await _platform.App.KillResourceAsync("ingestor");
        var acceptedAtKill = sender.AcceptedCount;
        await Task.Delay(TimeSpan.FromSeconds(2));
        await _platform.App.StartResourceAsync("ingestor");
        await Task.Delay(TimeSpan.FromSeconds(1));
        await stop.CancelAsync();
        await sending;

        var accepted = sender.AcceptedCount;
        Assert.True(accepted > acceptedAtKill, "no events were accepted while the Ingestor was down");
        await AssertCountedExactlyOnceAsync(api, tenant.Id, sender, within: TimeSpan.FromSeconds(90), lateCopies: TimeSpan.FromSeconds(1),
            $"{acceptedAtKill} accepted before the kill");
    }

    [Fact]
    public async Task AnIngestorKilledFiveTimesUnderLoadIsRestartedByTheAppHostCountsEveryAcceptedEventOnceAndHealthSaysSo()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var api = _platform.CreateApiClient(tenant.ReadKey);
        var sender = new EventSender(collector, "supervised", batchSize: 25);

        using var stop = new CancellationTokenSource();
        var sending = sender.RunAsync(TimeSpan.FromMilliseconds(20), stop.Token);
        var recoveries = new List<TimeSpan>();
        for (var kill = 0; kill < 5; kill++)
        {
            var before = sender.AcceptedCount;
            await Eventually.MatchesAsync(() => Task.FromResult(sender.AcceptedCount), n => n >= before + 100);
            // Up for longer than the supervisor's stable run: five kills of a working service are not a crash loop.
            await Task.Delay(AppHost.Lifecycle.Supervisor.StableRun + TimeSpan.FromSeconds(1));
            var killed = Stopwatch.StartNew();
            // No test code starts it again: the AppHost's supervisor must.
            await _platform.App.KillResourceAsync("ingestor", waitForRestart: true);
            recoveries.Add(killed.Elapsed);
        }

        await Task.Delay(TimeSpan.FromSeconds(1));
        await stop.CancelAsync();
        await sending;

        output.WriteLine($"recovered after {string.Join(", ", recoveries.Select(r => $"{r.TotalSeconds:0.0} s"))}");
        await AssertCountedExactlyOnceAsync(api, tenant.Id, sender, within: TimeSpan.FromSeconds(90), lateCopies: TimeSpan.FromSeconds(1),
            $"5 kills, recoveries {string.Join(", ", recoveries.Select(r => $"{r.TotalSeconds:0.0} s"))}");
        var ingestor = await Eventually.MatchesAsync(() => IngestorHealthAsync(api), s => (string)s["status"]! == "up" && (int)s["restarts"]! >= 5);
        Assert.Equal(5, (int)ingestor["restarts"]!);
    }

    [Fact]
    public async Task PipelineHealthSaysWhenTheIngestorIsDownAndWhenItIsBack()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var api = _platform.CreateApiClient(tenant.ReadKey);
        var first = await Eventually.MatchesAsync(() => IngestorHealthAsync(api), s => (string)s["status"]! == "up");
        Assert.Equal(0, (int)first["restarts"]!);

        await _platform.App.StopResourceAsync("ingestor");
        var down = await Eventually.MatchesAsync(() => IngestorHealthAsync(api), s => (string)s["status"]! == "down", TimeSpan.FromSeconds(15));
        Assert.Contains("No answer", (string)down["error"]!);
        var collector = await Eventually.MatchesAsync(() => ServiceHealthAsync(api, "collector"), s => (string)s["status"]! == "up");
        Assert.Equal(0, (int)collector["restarts"]!); // the others stay as they were

        await _platform.App.StartResourceAsync("ingestor");
        var back = await Eventually.MatchesAsync(() => IngestorHealthAsync(api), s => (string)s["status"]! == "up", TimeSpan.FromSeconds(60));
        Assert.Equal(1, (int)back["restarts"]!);
        Assert.True(DateTimeOffset.Parse((string)back["lastRestartAt"]!) > DateTimeOffset.Parse((string)first["startedAt"]!));
    }

    private static Task<JsonObject> IngestorHealthAsync(HttpClient api) => ServiceHealthAsync(api, "ingestor");

    private static async Task<JsonObject> ServiceHealthAsync(HttpClient api, string service)
    {
        var health = await api.GetObjectAsync("/v1/pipeline/health");
        return health["platform"]!["services"]!.AsArray().Single(s => (string)s!["name"]! == service)!.AsObject();
    }

    [Fact]
    public async Task WhileClickHouseIsDownTheIngestorPausesCommitsNothingAndEverythingArrivesOnceWhenItReturns()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var api = _platform.CreateApiClient(tenant.ReadKey);
        using var ingestor = _platform.CreateHttpClient("ingestor");
        var sender = new EventSender(collector, "outage", batchSize: 50);
        await sender.PostUntilAcceptedAsync(sender.NextBatch(), TimeSpan.FromSeconds(30));
        await api.CountUntilAsync(sender.AcceptedCount);

        await _platform.App.StopResourceAsync("clickhouse");
        var committedBefore = CommittedOffsets();
        try
        {
            for (var i = 0; i < 6; i++)
            {
                using var response = await sender.PostAsync(sender.NextBatch());
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode); // Kafka holds them
                await Task.Delay(TimeSpan.FromSeconds(1));
            }

            var paused = await Eventually.MatchesAsync(() => Task.FromResult(IngestorLog()), log => log.Contains("not stored; paused", StringComparison.Ordinal));
            Assert.Contains("not stored; paused", paused);
            using var alive = await ingestor.GetAsync("/alive");
            Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
            var health = Stopwatch.StartNew();
            using var ready = await ingestor.GetAsync("/health");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.True(health.Elapsed < TimeSpan.FromSeconds(5), $"/health took {health.Elapsed}");
            Assert.Equal(committedBefore, CommittedOffsets()); // nothing stored, nothing committed
        }
        finally
        {
            await _platform.App.StartResourceAsync("clickhouse");
        }

        await AssertCountedExactlyOnceAsync(api, tenant.Id, sender, within: TimeSpan.FromSeconds(60), lateCopies: TimeSpan.FromSeconds(1),
            "ClickHouse outage");
        Assert.Contains("resuming", IngestorLog());
        // Offsets count records: each of the six requests made at least one (a record per user slot, docs/events.md).
        var committedAfter = await Eventually.MatchesAsync(() => Task.FromResult(CommittedOffsets()), c => c >= committedBefore + 6);
        Assert.True(committedAfter >= committedBefore + 6, $"committed offsets moved from {committedBefore} to {committedAfter} only");
    }

    [Fact]
    public async Task ACollectorKilledUnderLoadFailsTheRequestsInFlightAndLosesNoEventItAcknowledged()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var api = _platform.CreateApiClient(tenant.ReadKey);
        var sender = new EventSender(collector, "collector-kill", batchSize: 25);

        using var stop = new CancellationTokenSource();
        // Four SDKs at once, so requests are in flight when the process dies.
        var sending = Task.WhenAll(Enumerable.Range(0, 4).Select(_ => sender.RunAsync(TimeSpan.FromMilliseconds(5), stop.Token)));
        await Eventually.MatchesAsync(() => Task.FromResult(sender.AcceptedCount), n => n >= 500);
        var killed = Stopwatch.StartNew();
        await _platform.App.KillResourceAsync("collector", waitForRestart: true); // the supervisor starts it again
        var restarted = sender.AcceptedCount;
        await Eventually.MatchesAsync(() => Task.FromResult(sender.AcceptedCount), n => n >= restarted + 100);
        var recovery = killed.Elapsed;
        await stop.CancelAsync();
        await sending;

        Assert.True(sender.ConnectionErrors > 0, "no request failed, so the kill did not hit the Collector under load");
        await AssertCountedExactlyOnceAsync(api, tenant.Id, sender, within: TimeSpan.FromSeconds(60), lateCopies: TimeSpan.FromSeconds(1),
            $"Collector SIGKILL, taking events again {recovery.TotalSeconds:0.0} s after the kill");
    }

    [Fact]
    public async Task ClickHouseStoppedForThirtySecondsUnderLoadLosesAndDoublesNothing()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var api = _platform.CreateApiClient(tenant.ReadKey);
        var sender = new EventSender(collector, "clickhouse-30s", batchSize: 25);

        using var stop = new CancellationTokenSource();
        var sending = sender.RunAsync(TimeSpan.FromMilliseconds(20), stop.Token);
        await api.CountUntilAsync(100);
        await _platform.App.StopResourceAsync("clickhouse");
        var acceptedAtStop = sender.AcceptedCount;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(30));
            Assert.True(sender.AcceptedCount >= acceptedAtStop + 500, // intake goes on into Kafka
                $"only {sender.AcceptedCount - acceptedAtStop} events accepted while ClickHouse was down");
        }
        finally
        {
            await _platform.App.StartResourceAsync("clickhouse");
        }

        var started = Stopwatch.StartNew();
        var backlog = sender.AcceptedCount;
        await Eventually.MatchesAsync(() => api.CountAsync(), r => (long)r["total"]! >= backlog, TimeSpan.FromSeconds(90));
        var recovery = started.Elapsed; // from ClickHouse's start until the outage's backlog is queryable, load still on
        await stop.CancelAsync();
        await sending;

        await AssertCountedExactlyOnceAsync(api, tenant.Id, sender, within: TimeSpan.FromSeconds(60), lateCopies: TimeSpan.FromSeconds(1),
            $"ClickHouse stopped 30 s ({backlog - acceptedAtStop} accepted meanwhile), backlog stored {recovery.TotalSeconds:0.0} s after its start");
    }

    [Fact]
    public async Task WithKafkaDownTheCollectorAnswers503InTimeAndResentEventsAreCountedOnceWhenItReturns()
    {
        var tenant = await _platform.CreateTenantAsync();
        using var collector = _platform.CreateCollectorClient(tenant.WriteKey);
        using var api = _platform.CreateApiClient(tenant.ReadKey);
        var kafka = _platform.App.Resource<KafkaDevBrokerResource>("kafka");
        var sender = new EventSender(collector, "broker-down", batchSize: 20);
        await sender.PostUntilAcceptedAsync(sender.NextBatch(), TimeSpan.FromSeconds(30));

        var refused = sender.NextBatch();
        kafka.SetBrokerDown();
        try
        {
            var elapsed = Stopwatch.StartNew();
            using var response = await sender.PostAsync(refused);
            elapsed.Stop();
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)response.StatusCode}: {body}");
            Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(10), $"the Collector answered after {elapsed.Elapsed}, not within its 5 s acknowledge timeout");
            Assert.NotNull(response.Headers.RetryAfter);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(503, (int)JsonNode.Parse(body)!["status"]!);
        }
        finally
        {
            kafka.SetBrokerUp();
        }

        await sender.PostUntilAcceptedAsync(refused, TimeSpan.FromSeconds(60)); // same event ids
        var accepted = sender.AcceptedCount;
        Assert.Equal(2 * refused.Count, accepted);
        // The producer may still deliver the copies it held when it answered 503 (message timeout 10 s); they fold by event id.
        await AssertCountedExactlyOnceAsync(api, tenant.Id, sender, within: TimeSpan.FromSeconds(60), lateCopies: TimeSpan.FromSeconds(11),
            $"{sender.Refusals} refusals");
    }

    private Task AssertCountedExactlyOnceAsync(HttpClient api, string tenantId, EventSender sender, TimeSpan within, TimeSpan lateCopies, string context) =>
        Acknowledgements.AssertCountedExactlyOnceAsync(_platform, output, api, tenantId, sender, within, lateCopies, context);

    /// <summary>The Ingestor group's committed offsets on the events topic, summed (an OffsetFetch; it does not join the group).</summary>
    private long CommittedOffsets()
    {
        using var observer = new ConsumerBuilder<Ignore, Ignore>(
            KafkaConfig.Consumer(_platform.App["kafka"].ConnectionString!, IngestorGroup, "pipeline-fault-tests")).Build();
        var partitions = Enumerable.Range(0, KafkaTopics.DefaultPartitions).Select(p => new TopicPartition(EventsTopic, p));
        return observer.Committed(partitions, TimeSpan.FromSeconds(10)).Sum(c => Math.Max(0, c.Offset.Value));
    }

    private string IngestorLog() => _platform.LogOf("ingestor");

    private sealed class FaultPlatform : PlatformFixture
    {
        protected override bool WithDemoData => false;
    }
}
