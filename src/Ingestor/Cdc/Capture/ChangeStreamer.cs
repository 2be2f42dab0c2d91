using System.Threading.Channels;
using Confluent.Kafka;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Ingestor.Cdc.Capture;

/// <summary>
/// One streaming session on the durable slot: pgoutput messages become change envelopes on the tables'
/// topics, and the slot's confirmed position moves to a transaction's end only after every record of that
/// transaction (and of every earlier one) was acknowledged by Kafka. Reading goes on while earlier
/// transactions wait for their acknowledgements, in commit order, so a busy table is not held to one
/// transaction per Kafka round trip. Any failure ends the session without confirming; the next one
/// resumes from the slot's confirmed position, and the replayed records carry the same versions.
/// </summary>
public sealed class ChangeStreamer(
    CaptureCatalog catalog,
    ChangeProducer producer,
    CdcState state,
    CaptureStatus status,
    CaptureMetrics metrics,
    ILogger logger)
{
    private static readonly TimeSpan IdleConfirmInterval = TimeSpan.FromSeconds(1);

    /// <summary>Committed transactions read ahead of their acknowledgements; past it, reading waits.</summary>
    private const int MaxPendingCommits = 10_000;

    private readonly Dictionary<uint, Relation> _relations = [];
    private readonly Lock _confirmLock = new();
    private ulong _confirmed;
    private int _inTransaction;
    private int _pendingCommits;

    /// <summary>Streams until cancelled or until something fails (the exception ends the session).</summary>
    public async Task RunAsync(string replicationConnectionString, CdcOptions options, IReadOnlySet<CdcTable> tables, CancellationToken cancellationToken)
    {
        await using var connection = new LogicalReplicationConnection(replicationConnectionString);
        await connection.Open(cancellationToken);
        var slot = new PgOutputReplicationSlot(options.Slot);
        var pluginOptions = new PgOutputReplicationOptions(options.Publication, PgOutputProtocolVersion.V1);

        using var session = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var commits = Channel.CreateBounded<PendingCommit>(new BoundedChannelOptions(MaxPendingCommits) { SingleReader = true, SingleWriter = true });
        var confirmer = Task.Run(() => ConfirmInOrderAsync(connection, commits.Reader, session), CancellationToken.None);
        using var stopIdle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var idle = Task.Run(() => ConfirmWhileIdleAsync(connection, stopIdle.Token), CancellationToken.None);
        var ended = false;
        try
        {
            Transaction? transaction = null;
            await foreach (var message in connection.StartReplication(slot, pluginOptions, session.Token))
            {
                switch (message)
                {
                    case BeginMessage begin:
                        Volatile.Write(ref _inTransaction, 1);
                        transaction = new Transaction(begin.TransactionXid, begin.TransactionCommitTimestamp);
                        break;

                    case RelationMessage relation:
                        _relations[relation.RelationId] = await DescribeAsync(relation, tables, cancellationToken);
                        break;

                    case InsertMessage insert when Captured(insert.Relation) is { } relation:
                        var inserted = await ReadAsync(insert.NewRow, relation, cancellationToken);
                        Produce(transaction, relation, ChangeEnvelope.Insert, null, Complete(inserted, null), message.WalStart);
                        break;

                    case UpdateMessage update when Captured(update.Relation) is { } relation:
                        var before = update switch
                        {
                            FullUpdateMessage full => await ReadAsync(full.OldRow, relation, cancellationToken),
                            IndexUpdateMessage index => KeyOnly(await ReadAsync(index.Key, relation, cancellationToken), relation),
                            _ => null,
                        };
                        var after = await ReadAsync(update.NewRow, relation, cancellationToken);
                        var newKey = ChangeEnvelope.KeyOf(relation.Columns, after);
                        if (before is not null && !newKey.AsSpan().SequenceEqual(ChangeEnvelope.KeyOf(relation.Columns, before)))
                        {
                            // The primary key changed: the old key's row is deleted (on its own partition), the new key's row created.
                            Produce(transaction, relation, ChangeEnvelope.Delete, KeyOnly(before, relation), null, message.WalStart);
                            Produce(transaction, relation, ChangeEnvelope.Insert, null, Complete(after, before), message.WalStart);
                        }
                        else
                        {
                            Produce(transaction, relation, ChangeEnvelope.Update, before ?? KeyOnly(after, relation), Complete(after, before), message.WalStart);
                        }

                        break;

                    case DeleteMessage delete when Captured(delete.Relation) is { } relation:
                        var old = delete switch
                        {
                            FullDeleteMessage full => await ReadAsync(full.OldRow, relation, cancellationToken),
                            KeyDeleteMessage key => KeyOnly(await ReadAsync(key.Key, relation, cancellationToken), relation),
                            _ => throw new InvalidOperationException($"Unexpected delete message {delete.GetType().Name}."),
                        };
                        Produce(transaction, relation, ChangeEnvelope.Delete, old, null, message.WalStart);
                        break;

                    case TruncateMessage truncate:
                        // No keys: the apply side hides every row versioned before this position.
                        foreach (var truncated in truncate.Relations.Select(Captured).OfType<Relation>())
                        {
                            Produce(transaction, truncated, ChangeEnvelope.Truncate, null, null, message.WalStart);
                        }

                        break;

                    case CommitMessage commit when transaction is not null:
                        Interlocked.Increment(ref _pendingCommits);
                        await commits.Writer.WriteAsync(new PendingCommit(transaction, (ulong)commit.TransactionEndLsn), session.Token);
                        transaction = null;
                        Volatile.Write(ref _inTransaction, 0);
                        break;
                }
            }

            ended = true;
        }
        catch (OperationCanceledException) when (session.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // The confirmer failed (a delivery was refused) and ended the session: its error is thrown below.
            ended = true;
        }
        finally
        {
            commits.Writer.TryComplete();
            await stopIdle.CancelAsync();
            await idle;
            if (!ended)
            {
                // The stream failed or was stopped: that is the error to report; the confirmer only has to stop.
                await session.CancelAsync();
                await confirmer.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
        }

        await confirmer;
    }

    /// <summary>
    /// Confirms committed transactions in commit order, each once all its records are acknowledged. A failed
    /// delivery ends the session (nothing after the last confirmed transaction is confirmed).
    /// </summary>
    private async Task ConfirmInOrderAsync(LogicalReplicationConnection connection, ChannelReader<PendingCommit> commits, CancellationTokenSource session)
    {
        try
        {
            await foreach (var pending in commits.ReadAllAsync(CancellationToken.None))
            {
                await CommitAsync(connection, pending.Transaction, pending.End, session.Token);
                Interlocked.Decrement(ref _pendingCommits);
            }
        }
        catch
        {
            await session.CancelAsync();
            throw;
        }
    }

    /// <summary>Waits for every record of the transaction, then confirms its end: PostgreSQL will not send it again.</summary>
    private async Task CommitAsync(LogicalReplicationConnection connection, Transaction transaction, ulong end, CancellationToken cancellationToken)
    {
        await Task.WhenAll(transaction.Deliveries); // a failed delivery throws: nothing is confirmed, the session ends
        foreach (var (table, changes) in transaction.Counts)
        {
            Interlocked.Add(ref state.Table(table).CapturedChanges, changes);
            metrics.Count(table, changes);
        }

        await ConfirmAsync(connection, end, cancellationToken);
    }

    /// <summary>
    /// With no transaction in flight, every transaction the server sent so far is acknowledged, so the last
    /// position it reported (keepalives included) can be confirmed: an idle slot advances past WAL written by
    /// other tables and databases. A transaction still open on the server ends after that position, so it is
    /// sent again after a restart.
    /// </summary>
    private async Task ConfirmWhileIdleAsync(LogicalReplicationConnection connection, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(IdleConfirmInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                if (Volatile.Read(ref _inTransaction) == 0 && Volatile.Read(ref _pendingCommits) == 0 && (ulong)connection.LastReceivedLsn is var received and > 0)
                {
                    await ConfirmAsync(connection, received, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            logger.LogDebug("Idle status update not sent: {Error}", ex.Message);
        }
    }

    private async Task ConfirmAsync(LogicalReplicationConnection connection, ulong lsn, CancellationToken cancellationToken)
    {
        lock (_confirmLock)
        {
            if (lsn <= _confirmed)
            {
                return;
            }

            _confirmed = lsn;
            connection.SetReplicationStatus(new NpgsqlLogSequenceNumber(lsn));
        }

        await connection.SendStatusUpdate(cancellationToken);
        status.Confirmed(lsn);
    }

    private void Produce(Transaction? transaction, Relation relation, string op, Dictionary<string, string?>? before, Dictionary<string, string?>? after, NpgsqlLogSequenceNumber lsn)
    {
        if (transaction is null)
        {
            throw new InvalidOperationException("A change arrived outside a transaction.");
        }

        var version = (ulong)lsn;
        var envelope = new ChangeEnvelope(op, before, after,
            new ChangeSource(relation.Table.Schema, relation.Table.Name, version, PgText.Lsn(version), transaction.CommitTime, transaction.Xid, Snapshot: false),
            relation.Columns, status.TenantId);
        transaction.Deliveries.Add(producer.ProduceAsync(relation.Table, envelope));
        transaction.Counts[relation.Table] = transaction.Counts.GetValueOrDefault(relation.Table) + 1;
    }

    private Relation? Captured(RelationMessage message) =>
        _relations.TryGetValue(message.RelationId, out var relation) && relation.Captured ? relation : null;

    /// <summary>
    /// The relation's columns as pgoutput sends them (names, types, typmods), keyed by the table's primary key
    /// (pgoutput's own key flags mark every column under REPLICA IDENTITY FULL).
    /// </summary>
    private async Task<Relation> DescribeAsync(RelationMessage message, IReadOnlySet<CdcTable> tables, CancellationToken cancellationToken)
    {
        var table = new CdcTable(message.Namespace, message.RelationName);
        if (!tables.Contains(table))
        {
            return new Relation(table, [], Captured: false);
        }

        var types = await catalog.TypeNamesAsync(message.Columns.Select(c => c.DataTypeId), cancellationToken);
        var primaryKey = (await catalog.ColumnsAsync(table, cancellationToken)).Where(c => c.Key).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        if (primaryKey.Count == 0)
        {
            // Dropped since the check: key by what pgoutput calls the replica identity rather than stop the stream.
            primaryKey = message.Columns.Where(c => c.Flags.HasFlag(RelationMessage.Column.ColumnFlags.PartOfKey)).Select(c => c.ColumnName).ToHashSet(StringComparer.Ordinal);
            logger.LogError("{Table} has no primary key any more; its changes are keyed by its replica identity ({Columns})", table, string.Join(", ", primaryKey));
        }

        var columns = message.Columns
            .Select(c => new ChangeColumn(c.ColumnName, types.GetValueOrDefault(c.DataTypeId, c.DataTypeId.ToString(System.Globalization.CultureInfo.InvariantCulture)), c.TypeModifier, primaryKey.Contains(c.ColumnName)))
            .ToList();
        return new Relation(table, columns, Captured: true);
    }

    /// <summary>The tuple's values by column name; an unchanged TOASTed value is left out (not null).</summary>
    private static async Task<Dictionary<string, string?>> ReadAsync(ReplicationTuple tuple, Relation relation, CancellationToken cancellationToken)
    {
        var values = new Dictionary<string, string?>(relation.Columns.Count, StringComparer.Ordinal);
        var i = 0;
        await foreach (var value in tuple.WithCancellation(cancellationToken))
        {
            var column = relation.Columns[i++];
            switch (value.Kind)
            {
                case TupleDataKind.Null:
                    values[column.Name] = null;
                    break;
                case TupleDataKind.UnchangedToastedValue:
                    break;
                default:
                    using (var reader = value.GetTextReader())
                    {
                        values[column.Name] = PgText.Normalize(column.Type, await reader.ReadToEndAsync(cancellationToken));
                    }

                    break;
            }
        }

        return values;
    }

    /// <summary>An unchanged TOASTed value is taken from the old row when REPLICA IDENTITY FULL sent it; otherwise left out.</summary>
    private static Dictionary<string, string?> Complete(Dictionary<string, string?> after, Dictionary<string, string?>? before)
    {
        if (before is not null)
        {
            foreach (var (name, value) in before)
            {
                after.TryAdd(name, value);
            }
        }

        return after;
    }

    private static Dictionary<string, string?> KeyOnly(Dictionary<string, string?> values, Relation relation) =>
        relation.Columns.Where(c => c.Key).ToDictionary(c => c.Name, c => values.GetValueOrDefault(c.Name), StringComparer.Ordinal);

    private sealed record Relation(CdcTable Table, IReadOnlyList<ChangeColumn> Columns, bool Captured);

    private sealed record PendingCommit(Transaction Transaction, ulong End);

    private sealed class Transaction(uint xid, DateTime commitTime)
    {
        public uint Xid { get; } = xid;

        public DateTimeOffset CommitTime { get; } = new(DateTime.SpecifyKind(commitTime, DateTimeKind.Utc));

        public List<Task<DeliveryResult<byte[], byte[]>>> Deliveries { get; } = [];

        public Dictionary<CdcTable, long> Counts { get; } = [];
    }
}
