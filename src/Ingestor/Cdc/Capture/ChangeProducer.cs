using System.Text.Json;
using Confluent.Kafka;
using Platform.Kafka;

namespace Ingestor.Cdc.Capture;

/// <summary>
/// Writes change envelopes to their tables' topics with an idempotent producer (acks=all, retries never
/// reorder or duplicate within a session). Callers await the returned deliveries before they advance
/// anything: a record is safe only once Kafka acknowledged it.
/// </summary>
public sealed class ChangeProducer : IDisposable
{
    private readonly IProducer<byte[], byte[]> _producer;
    private readonly string _prefix;
    private readonly LostRecordsWatch _watch;

    public ChangeProducer(string bootstrap, string prefix, LostRecordsWatch watch, ILogger logger)
    {
        _prefix = prefix;
        _watch = watch;
        var config = KafkaConfig.Producer(bootstrap, "ingestor-cdc");
        _producer = new ProducerBuilder<byte[], byte[]>(config)
            .SetLogHandler((_, m) => logger.Log(KafkaLog.Level(m.Level), "{Facility}: {Message}", m.Facility, m.Message))
            .SetErrorHandler((_, e) => logger.LogWarning("Kafka CDC producer error {Code}: {Reason}", e.Code, e.Reason))
            .Build();
    }

    public Task<DeliveryResult<byte[], byte[]>> ProduceAsync(CdcTable table, ChangeEnvelope envelope)
    {
        var values = envelope.After ?? envelope.Before ?? [];
        var message = new Message<byte[], byte[]>
        {
            Key = ChangeEnvelope.KeyOf(envelope.Columns, values),
            Value = JsonSerializer.SerializeToUtf8Bytes(envelope, CdcJsonContext.Default.ChangeEnvelope),
        };
        var delivered = new TaskCompletionSource<DeliveryResult<byte[], byte[]>>(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            // The delivery handler runs on the producer's poll thread, in each partition's offset order, which the
            // watch relies on; continuations of ProduceAsync's tasks would reach it in any order.
            _producer.Produce(table.Topic(_prefix), message, report =>
            {
                if (report.Error.IsError)
                {
                    delivered.TrySetException(new ProduceException<byte[], byte[]>(report.Error, report));
                    return;
                }

                _watch.Acknowledged(report.TopicPartitionOffset);
                delivered.TrySetResult(report);
            });
        }
        catch (ProduceException<byte[], byte[]> ex)
        {
            delivered.TrySetException(ex);
        }

        return delivered.Task;
    }

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(5));
        _producer.Dispose();
    }
}
