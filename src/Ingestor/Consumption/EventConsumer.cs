using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Confluent.Kafka;
using Ingestor.Schema;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;
using Platform.Events;
using Platform.Kafka;

namespace Ingestor.Consumption;

/// <summary>
/// Kafka -> ClickHouse. Reads the events topic in a consumer group, inserts each batch with one
/// request, and commits offsets only after ClickHouse acknowledged it: a crash at any point leads
/// to redelivery, never loss, and redelivered copies are folded by event id.
/// While a batch cannot be stored, the assigned partitions are paused (memory stays bounded) and the
/// consumer keeps polling between retries, so it stays in its group; it resumes once the batch is stored.
/// </summary>
public sealed class EventConsumer(
    ClickHouseClient clickHouse,
    IProducer<byte[], byte[]> deadLetters,
    SchemaState schema,
    IngestorMetrics metrics,
    IOptions<IngestorOptions> options,
    IConfiguration configuration,
    ILogger<EventConsumer> logger) : BackgroundService
{
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(200);

    // Short, so that the consumer serves rebalances and stays within max.poll.interval.ms while it waits to retry.
    private static readonly TimeSpan PausedPoll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LagSampleInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan BrokerQueryTimeout = TimeSpan.FromSeconds(2);

    private readonly EventBatch _batch = new();
    private readonly List<RecordOutcome> _outcomes = [];
    private readonly HashSet<TopicPartition> _paused = [];
    private readonly OwedCommits _owed = new(TimeProvider.System, TimeSpan.FromSeconds(1), logger);
    private Outage? _outage;

    public override void Dispose()
    {
        base.Dispose();
        _batch.Dispose();
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // Consume() blocks; give the loop its own thread rather than a pool thread.
        Task.Factory.StartNew(() => RunAsync(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        try
        {
            await schema.WaitAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        var settings = options.Value;
        var bootstrap = KafkaConfig.Bootstrap(configuration.GetConnectionString("kafka")!);
        if (!await EnsureTopicsAsync(bootstrap, settings, stoppingToken))
        {
            return;
        }

        using var consumer = new ConsumerBuilder<byte[], byte[]>(KafkaConfig.Consumer(bootstrap, settings.ConsumerGroup, "ingestor"))
            .SetLogHandler((_, m) => logger.Log(KafkaLog.Level(m.Level), "{Facility}: {Message}", m.Facility, m.Message))
            .SetErrorHandler((_, e) => logger.LogWarning("Kafka consumer error {Code}: {Reason}", e.Code, e.Reason))
            .SetPartitionsRevokedHandler((c, revoked) => OnPartitionsRevoked(c, revoked))
            .Build();
        consumer.Subscribe(EventTopics.Events);
        logger.LogInformation("Consuming {Topic} as group {Group}", EventTopics.Events, settings.ConsumerGroup);

        using var stopLagSampling = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var lagSampling = Task.Run(() => SampleLagAsync(consumer, bootstrap, settings.ConsumerGroup, stopLagSampling.Token), CancellationToken.None);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                if (_outage is not null)
                {
                    PauseAssigned(consumer); // partitions assigned since the outage began, too
                }

                var wait = NextWait(settings);
                if (wait > TimeSpan.Zero && Consume(consumer, wait) is { } result)
                {
                    Add(result);
                }

                if (IsDue(settings))
                {
                    await TryStoreAndCommitAsync(consumer, stoppingToken);
                }

                _owed.RetryIfDue(consumer);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await stopLagSampling.CancelAsync();

            // Shutdown: store what was read if ClickHouse takes it promptly; otherwise leave it uncommitted for redelivery.
            using var shutdown = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            StoreAndCommitOrDrop(consumer, shutdown.Token, "Shutdown");
            await lagSampling;
            metrics.ReportLag([]);
            consumer.Close();
        }
    }

    /// <summary>Retries until the broker answers: an unreachable broker at start is a wait, not a crash.</summary>
    private async Task<bool> EnsureTopicsAsync(string bootstrap, IngestorOptions settings, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await KafkaTopics.EnsureAsync(bootstrap, [EventTopics.Events, EventTopics.DeadLetter], settings.TopicPartitions, stoppingToken);
                return true;
            }
            catch (KafkaException ex)
            {
                logger.LogWarning("Kafka topics not ready, retrying: {Error}", ex.Error.Reason);
                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }

        return false;
    }

    private TimeSpan NextWait(IngestorOptions settings) =>
        _outage is not null ? _outage.UntilNextAttemptAtMost(PausedPoll)
        : _batch.IsEmpty ? IdlePoll
        : settings.BatchMaxDelay - _batch.Age;

    private bool IsDue(IngestorOptions settings) =>
        _outage is not null
            ? _outage.UntilNextAttempt <= TimeSpan.Zero
            : !_batch.IsEmpty && (_batch.Events >= settings.BatchMaxRows || _batch.Age >= settings.BatchMaxDelay);

    private ConsumeResult<byte[], byte[]>? Consume(IConsumer<byte[], byte[]> consumer, TimeSpan wait)
    {
        try
        {
            return consumer.Consume(wait) is { IsPartitionEOF: false, Message: not null } result ? result : null;
        }
        catch (ConsumeException ex) when (!ex.Error.IsFatal)
        {
            logger.LogWarning("Consume failed, continuing: {Error}", ex.Error.Reason);
            return null;
        }
    }

    private void Add(ConsumeResult<byte[], byte[]> result)
    {
        _outcomes.Clear();
        _batch.Add(result, _outcomes);
        metrics.Consumed.Add(_outcomes.Count);
        if (_outcomes.Count(o => o == RecordOutcome.Duplicate) is > 0 and var duplicates)
        {
            metrics.DuplicatesDropped.Add(duplicates);
        }
    }

    private async Task TryStoreAndCommitAsync(IConsumer<byte[], byte[]> consumer, CancellationToken stoppingToken)
    {
        try
        {
            await StoreAsync(stoppingToken);
        }
        catch (Exception ex) when (IsTransient(ex) && !stoppingToken.IsCancellationRequested)
        {
            var level = ex is ClickHouseServerException { IsQueryError: true } ? LogLevel.Error : LogLevel.Warning;
            if (_outage is null)
            {
                _outage = new Outage(FirstRetryDelay);
                PauseAssigned(consumer);
                logger.Log(level, "Batch of {Records} records not stored; paused {Partitions} partitions, retrying in {Delay}: {Error}",
                    _batch.Records, _paused.Count, _outage.Delay, ex.Message);
            }
            else
            {
                _outage.Failed(options.Value.MaxRetryDelay);
                logger.Log(level, "Batch of {Records} records still not stored after {Attempts} attempts in {Duration}, retrying in {Delay}: {Error}",
                    _batch.Records, _outage.Attempts, _outage.Duration, _outage.Delay, ex.Message);
            }

            return;
        }

        Commit(consumer);
        if (_outage is not null)
        {
            logger.LogInformation("Batch stored after {Attempts} attempts in {Duration}; resuming {Partitions} partitions",
                _outage.Attempts + 1, _outage.Duration, _paused.Count);
            ResumePaused(consumer);
            _outage = null;
        }
    }

    /// <summary>Inserts the batch's rows, then dead-letters its poison records; what succeeded is removed from the batch.</summary>
    private async Task StoreAsync(CancellationToken cancellationToken)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(options.Value.InsertTimeout);
        if (_batch.RowCount > 0)
        {
            var started = Stopwatch.GetTimestamp();
            var refused = await InsertIsolatingRefusedRowsAsync(0, _batch.RowCount, attempt.Token);
            metrics.InsertDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            metrics.Inserted.Add(_batch.RowCount - refused);
            metrics.BatchRows.Record(_batch.RowCount);
            _batch.RowsDone();
        }

        while (_batch.DeadLetters.TryPeek(out var message))
        {
            await deadLetters.ProduceAsync(EventTopics.DeadLetter, message, attempt.Token);
            _batch.DeadLetters.Dequeue();
            metrics.DeadLettered.Add(1);
        }
    }

    /// <summary>
    /// Inserts rows [start, start + count). When ClickHouse refuses them because of the data, halves the range until the
    /// refused rows stand alone, stores the rest and dead-letters those with the server's reason, so one bad row costs a few
    /// extra inserts rather than stalling every partition. Any other failure propagates (the batch is retried whole; copies
    /// of rows stored before it fold by event id). Returns how many rows were refused.
    /// </summary>
    private async Task<int> InsertIsolatingRefusedRowsAsync(int start, int count, CancellationToken cancellationToken)
    {
        try
        {
            await clickHouse.InsertRowBinaryAsync(RawEventRow.Table, RawEventRow.Columns, _batch.RowBytes(start, count), cancellationToken);
            return 0;
        }
        catch (ClickHouseServerException ex) when (ex.IsDataError)
        {
            if (count == 1)
            {
                if (_batch.Refuse(start, ex.Message))
                {
                    metrics.RefusedRows.Add(1);
                    var row = _batch.RowEvent(start);
                    logger.LogWarning("ClickHouse refused event {EventId} of tenant {TenantId}; dead-lettering it: {Error}", row.EventId, row.TenantId, ex.Message);
                }

                return 1;
            }

            var half = count / 2;
            return await InsertIsolatingRefusedRowsAsync(start, half, cancellationToken)
                + await InsertIsolatingRefusedRowsAsync(start + half, count - half, cancellationToken);
        }
    }

    private void Commit(IConsumer<byte[], byte[]> consumer)
    {
        try
        {
            _owed.Commit(consumer, _batch.Offsets.Select(o => new TopicPartitionOffset(o.Key, o.Value)));
        }
        catch (KafkaException ex)
        {
            // Stored but not committed: committed again shortly; read again meanwhile (a rebalance), their copies fold by event id.
            logger.LogWarning("Stored {Records} records but could not commit their offsets, retrying: {Error}", _batch.Records, ex.Error.Reason);
        }

        _batch.Clear();
    }

    /// <summary>One bounded attempt, for shutdown and rebalances: whatever is not stored stays uncommitted and is read again.</summary>
    private void StoreAndCommitOrDrop(IConsumer<byte[], byte[]> consumer, CancellationToken cancellationToken, string occasion)
    {
        if (_batch.IsEmpty)
        {
            return;
        }

        try
        {
            StoreAsync(cancellationToken).GetAwaiter().GetResult();
            Commit(consumer);
        }
        catch (Exception ex) when (IsTransient(ex))
        {
            logger.LogWarning("{Occasion}: {Records} records not stored; left uncommitted for redelivery ({Error})", occasion, _batch.Records, ex.Message);
            _batch.Clear();
        }
    }

    private void OnPartitionsRevoked(IConsumer<byte[], byte[]> consumer, List<TopicPartitionOffset> revoked)
    {
        // The batch may hold records of partitions moving to another member: store and commit them now if
        // ClickHouse answers at once, otherwise drop them from memory so the new owner reads them again.
        using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        StoreAndCommitOrDrop(consumer, quick.Token, "Rebalance");
        _owed.Forget(revoked.Select(r => r.TopicPartition));
        _paused.ExceptWith(revoked.Select(r => r.TopicPartition));
        _outage = null; // the batch is gone either way; the next failure pauses what is assigned then
    }

    private void PauseAssigned(IConsumer<byte[], byte[]> consumer)
    {
        var unpaused = consumer.Assignment.Where(p => !_paused.Contains(p)).ToList();
        if (unpaused.Count > 0)
        {
            consumer.Pause(unpaused);
            _paused.UnionWith(unpaused);
        }
    }

    private void ResumePaused(IConsumer<byte[], byte[]> consumer)
    {
        var assigned = consumer.Assignment.Where(_paused.Contains).ToList();
        if (assigned.Count > 0)
        {
            consumer.Resume(assigned);
        }

        _paused.Clear();
    }

    /// <summary>
    /// Samples ingestor.consumer.lag every few seconds on its own task: the high watermark and the group's
    /// committed offset come from the brokers (blocking requests), which the consume loop must not wait for.
    /// The watermark is queried rather than taken from fetch responses, which stop while the partitions are paused,
    /// and through a consumer of the group that never subscribes: behind the member's long-polling fetches each
    /// query waited ~0.5 s.
    /// </summary>
    private async Task SampleLagAsync(IConsumer<byte[], byte[]> member, string bootstrap, string group, CancellationToken cancellationToken)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(KafkaConfig.Consumer(bootstrap, group, "ingestor-lag")).SetLogHandler((_, _) => { }).Build();
        using var timer = new PeriodicTimer(LagSampleInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    var assigned = member.Assignment;
                    var committed = assigned.Count == 0 ? [] : consumer.Committed(assigned, BrokerQueryTimeout);
                    var lag = new List<Measurement<long>>(committed.Count);
                    foreach (var partition in committed)
                    {
                        var watermarks = consumer.QueryWatermarkOffsets(partition.TopicPartition, BrokerQueryTimeout);
                        var done = partition.Offset.Value >= 0 ? partition.Offset.Value : watermarks.Low.Value;
                        lag.Add(new Measurement<long>(Math.Max(0, watermarks.High.Value - done),
                            new KeyValuePair<string, object?>("messaging.destination.name", partition.Topic),
                            new KeyValuePair<string, object?>("messaging.destination.partition.id", partition.Partition.Value.ToString(CultureInfo.InvariantCulture))));
                    }

                    metrics.ReportLag(lag);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A missed sample must never stop ingestion; the gauge keeps the last one.
                    logger.LogDebug("Consumer lag not sampled: {Error}", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static bool IsTransient(Exception ex) =>
        ex is ClickHouseUnavailableException or ClickHouseServerException or HttpRequestException or KafkaException or OperationCanceledException;
}
