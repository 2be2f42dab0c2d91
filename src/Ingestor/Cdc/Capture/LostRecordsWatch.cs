using Confluent.Kafka;

namespace Ingestor.Cdc.Capture;

/// <summary>
/// Notices that Kafka lost change records it had acknowledged (the dev broker's host restarted, a cluster lost
/// its log or elected an unclean leader): a partition whose log now ends at or before the last offset it
/// acknowledged to capture, or that acknowledges an offset at or below it. The slot has moved past those
/// changes, so the tables whose topics lost records are snapshotted again (<see cref="SnapshotMarkers.MarkLostAsync"/>).
/// </summary>
/// <remarks>What was acknowledged is known only to this process: a loss while the Ingestor is down goes unnoticed.</remarks>
public sealed class LostRecordsWatch
{
    private readonly Lock _lock = new();
    private readonly Dictionary<TopicPartition, long> _acknowledged = [];
    private readonly Dictionary<string, string> _lostTopics = new(StringComparer.Ordinal);

    public bool HasLosses
    {
        get { lock (_lock) { return _lostTopics.Count > 0; } }
    }

    public void Acknowledged(TopicPartitionOffset delivered)
    {
        lock (_lock)
        {
            var offset = delivered.Offset.Value;
            if (_acknowledged.TryGetValue(delivered.TopicPartition, out var last) && offset <= last)
            {
                Lose(delivered.TopicPartition, $"Kafka acknowledged offset {offset} of partition {delivered.Partition.Value} after offset {last}");
            }

            _acknowledged[delivered.TopicPartition] = offset;
        }
    }

    /// <summary>Compares each partition's end with what it acknowledged.</summary>
    public void Check(IConsumer<Ignore, Ignore> watermarks, TimeSpan timeout)
    {
        List<KeyValuePair<TopicPartition, long>> partitions;
        lock (_lock)
        {
            partitions = [.. _acknowledged];
        }

        foreach (var (partition, last) in partitions)
        {
            long end;
            try
            {
                end = watermarks.QueryWatermarkOffsets(partition, timeout).High.Value;
            }
            catch (KafkaException ex) when (ex.Error.Code is ErrorCode.UnknownTopicOrPart or ErrorCode.Local_UnknownTopic or ErrorCode.Local_UnknownPartition)
            {
                end = 0; // the topic itself is gone
            }

            if (end <= last)
            {
                lock (_lock)
                {
                    if (_acknowledged.GetValueOrDefault(partition, -1) == last)
                    {
                        Lose(partition, $"partition {partition.Partition.Value} ends at offset {end}, but Kafka had acknowledged offset {last}");
                    }
                }
            }
        }
    }

    /// <summary>The topics that lost records and why, until <see cref="Marked"/>: a failed mark is tried again next round.</summary>
    public Dictionary<string, string> Losses()
    {
        lock (_lock)
        {
            return new Dictionary<string, string>(_lostTopics, StringComparer.Ordinal);
        }
    }

    /// <summary>The topic's tables are durably marked for a new snapshot: that loss is dealt with (a newer one is kept).</summary>
    public void Marked(string topic, string reason)
    {
        lock (_lock)
        {
            if (_lostTopics.TryGetValue(topic, out var lost) && lost == reason)
            {
                _lostTopics.Remove(topic);
            }
        }
    }

    private void Lose(TopicPartition partition, string reason)
    {
        _lostTopics.TryAdd(partition.Topic, reason);
        // The topic's log started again: offsets from now on are compared with its new log.
        foreach (var other in _acknowledged.Keys.Where(p => p.Topic == partition.Topic).ToList())
        {
            _acknowledged.Remove(other);
        }
    }
}
