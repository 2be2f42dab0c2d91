using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Platform.Kafka;

/// <summary>
/// Offsets a consume loop has processed but could not commit, committed again until the brokers take
/// them. Without this a partition that gets no further records keeps its processed records uncommitted
/// for as long as it stays quiet: reported as lag, and read again after a restart. Used from the consume
/// loop only (not thread-safe); offsets only move forward.
/// </summary>
public sealed class OwedCommits(TimeProvider time, TimeSpan retryInterval, ILogger logger)
{
    private readonly Dictionary<TopicPartition, long> _owed = [];
    private DateTimeOffset _retryAt;

    public int Count => _owed.Count;

    /// <summary>
    /// Commits <paramref name="offsets"/> together with any still owed and returns what was committed;
    /// when the brokers refuse, keeps them all owed and rethrows.
    /// </summary>
    public IReadOnlyList<TopicPartitionOffset> Commit(IConsumer<byte[], byte[]> consumer, IEnumerable<TopicPartitionOffset> offsets)
    {
        foreach (var offset in offsets)
        {
            _owed[offset.TopicPartition] = Math.Max(offset.Offset.Value, _owed.GetValueOrDefault(offset.TopicPartition, long.MinValue));
        }

        if (_owed.Count == 0)
        {
            return [];
        }

        var commit = _owed.Select(o => new TopicPartitionOffset(o.Key, o.Value)).ToList();
        try
        {
            consumer.Commit(commit);
        }
        catch (KafkaException)
        {
            _retryAt = time.GetUtcNow() + retryInterval;
            throw;
        }

        _owed.Clear();
        return commit;
    }

    /// <summary>Commits what is owed once the retry interval has passed; returns what was committed (none when nothing was due or the brokers refused again).</summary>
    public IReadOnlyList<TopicPartitionOffset> RetryIfDue(IConsumer<byte[], byte[]> consumer)
    {
        if (_owed.Count == 0 || time.GetUtcNow() < _retryAt)
        {
            return [];
        }

        try
        {
            var committed = Commit(consumer, []);
            logger.LogInformation("Committed the offsets of {Partitions} partitions whose earlier commit failed", committed.Count);
            return committed;
        }
        catch (KafkaException ex)
        {
            logger.LogDebug("Owed offsets of {Partitions} partitions still not committed: {Error}", _owed.Count, ex.Error.Reason);
            return [];
        }
    }

    /// <summary>Partitions taken away by a rebalance: their new owner reads from the last commit, so nothing is owed for them.</summary>
    public void Forget(IEnumerable<TopicPartition> revoked)
    {
        foreach (var partition in revoked)
        {
            _owed.Remove(partition);
        }
    }
}
