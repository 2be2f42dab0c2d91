using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
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
/// to redelivery, never loss, and redelivered copies are folded by the table's dedupe.
/// While ClickHouse refuses a batch the loop retries it and reads nothing new, so memory stays bounded.
/// </summary>
public sealed class EventConsumer(
    ClickHouseClient clickHouse,
    IProducer<byte[], byte[]> deadLetters,
    SchemaState schema,
    IOptions<IngestorOptions> options,
    IConfiguration configuration,
    ILogger<EventConsumer> logger) : BackgroundService
{
    private static readonly Meter Meter = new("Platform.Ingestor");
    private static readonly Counter<long> Consumed = Meter.CreateCounter<long>("ingestor.events.consumed");
    private static readonly Counter<long> Inserted = Meter.CreateCounter<long>("ingestor.events.inserted");
    private static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>("ingestor.events.dead_lettered");
    private static readonly Histogram<long> BatchSize = Meter.CreateHistogram<long>("ingestor.batch.rows");
    private static readonly Histogram<double> InsertLatency = Meter.CreateHistogram<double>("ingestor.insert.duration", "ms");

    private readonly List<RawEventRow> _rows = [];
    private readonly List<Message<byte[], byte[]>> _poison = [];
    private readonly Dictionary<TopicPartition, Offset> _offsets = [];
    private readonly Stopwatch _batchAge = new();

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
            .SetPartitionsRevokedHandler((c, _) => OnPartitionsRevoked(c))
            .Build();
        consumer.Subscribe(EventTopics.Events);
        logger.LogInformation("Consuming {Topic} as group {Group}", EventTopics.Events, settings.ConsumerGroup);

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var wait = _rows.Count + _poison.Count == 0
                    ? TimeSpan.FromMilliseconds(200)
                    : settings.BatchMaxDelay - _batchAge.Elapsed;
                var result = wait > TimeSpan.Zero ? consumer.Consume(wait) : null;
                if (result is { IsPartitionEOF: false, Message: not null })
                {
                    Add(result);
                }

                if (_rows.Count + _poison.Count > 0
                    && (_rows.Count >= settings.BatchMaxRows || _batchAge.Elapsed >= settings.BatchMaxDelay))
                {
                    await FlushAsync(consumer, retryUntil: stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            // Shutdown: store what was read if ClickHouse takes it promptly; otherwise leave it uncommitted for redelivery.
            using var shutdown = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await FlushAsync(consumer, retryUntil: shutdown.Token);
            }
            catch (OperationCanceledException)
            {
                logger.LogWarning("Shutdown flush timed out; {Rows} uncommitted rows will be redelivered", _rows.Count);
            }

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

    private void Add(ConsumeResult<byte[], byte[]> result)
    {
        if (_rows.Count + _poison.Count == 0)
        {
            _batchAge.Restart();
        }

        Consumed.Add(1);
        _offsets[result.TopicPartition] = result.Offset + 1;
        try
        {
            var collected = JsonSerializer.Deserialize(result.Message.Value, EventJsonContext.Default.CollectedEvent);
            if (collected is null || string.IsNullOrEmpty(collected.TenantId) || string.IsNullOrEmpty(collected.EventId))
            {
                throw new JsonException("The record is not a collected event (tenant_id and event_id are required).");
            }

            _rows.Add(RawEventRow.From(collected));
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            result.Message.Headers ??= [];
            result.Message.Headers.Add("dead-letter-reason", Encoding.UTF8.GetBytes(ex.Message));
            result.Message.Headers.Add("dead-letter-source", Encoding.UTF8.GetBytes(result.TopicPartitionOffset.ToString()));
            _poison.Add(result.Message);
        }
    }

    private async Task FlushAsync(IConsumer<byte[], byte[]> consumer, CancellationToken retryUntil)
    {
        if (_rows.Count + _poison.Count == 0)
        {
            return;
        }

        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                await clickHouse.InsertAsync(RawEventRow.Table, _rows, RawEventJsonContext.Default.RawEventRow, retryUntil);
                InsertLatency.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                foreach (var message in _poison)
                {
                    await deadLetters.ProduceAsync(EventTopics.DeadLetter, message, retryUntil);
                }

                break;
            }
            catch (Exception ex) when (ex is ClickHouseUnavailableException or ClickHouseServerException or KafkaException or HttpRequestException && !retryUntil.IsCancellationRequested)
            {
                logger.LogWarning("Batch of {Rows} rows not stored, retrying in {Delay}: {Error}", _rows.Count, delay, ex.Message);
                await Task.Delay(delay, retryUntil);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.Value.MaxRetryDelay.Ticks));
            }
        }

        Inserted.Add(_rows.Count);
        DeadLettered.Add(_poison.Count);
        BatchSize.Record(_rows.Count);
        consumer.Commit(_offsets.Select(o => new TopicPartitionOffset(o.Key, o.Value)));
        Clear();
    }

    private void OnPartitionsRevoked(IConsumer<byte[], byte[]> consumer)
    {
        // The batch may hold rows of partitions that are moving to another member: store and commit
        // them now if ClickHouse answers at once, otherwise drop them from memory uncommitted so the
        // new owner reads them again.
        using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            FlushAsync(consumer, quick.Token).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is OperationCanceledException or KafkaException)
        {
            logger.LogWarning("Rebalance: {Rows} uncommitted rows left for redelivery ({Error})", _rows.Count, ex.Message);
            Clear();
        }
    }

    private void Clear()
    {
        _rows.Clear();
        _poison.Clear();
        _offsets.Clear();
        _batchAge.Reset();
    }
}
