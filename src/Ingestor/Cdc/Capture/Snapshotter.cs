using System.Text.RegularExpressions;
using Confluent.Kafka;
using Npgsql;
using Npgsql.Replication;
using NpgsqlTypes;

namespace Ingestor.Cdc.Capture;

/// <summary>
/// The initial copy of tables whose changes the durable slot does not hold from their beginning.
/// A TEMPORARY slot created on a second replication connection exports a snapshot; an ordinary connection
/// reads every table inside it (REPEATABLE READ, SET TRANSACTION SNAPSHOT), and each row becomes an
/// <c>r</c> record. Streamed changes are never filtered against the snapshot: versions decide.
/// </summary>
/// <remarks>
/// The rows' version is the temporary slot's restart_lsn, the position its decoding started from, not its
/// consistent point. A transaction still open at the consistent point is invisible to the snapshot but may
/// have written changes before it; those started after restart_lsn (with an exported snapshot PostgreSQL
/// never restores a serialized one), so they all outrank the snapshot rows. Changes that committed before
/// the consistent point but are newer than restart_lsn also outrank them, which is harmless: they are
/// already in the snapshot, and of one row's changes the newest always wins. Everything written by an
/// earlier life of the slot is older than restart_lsn.
/// </remarks>
public sealed partial class Snapshotter(CaptureCatalog catalog, ChangeProducer producer, ILogger logger)
{
    private const int AckWindow = 5_000;

    /// <summary>Snapshots the tables in one exported snapshot; returns per table its version and rows, all acknowledged by Kafka.</summary>
    public async Task<(ulong Version, Dictionary<CdcTable, long> Rows)> RunAsync(
        string replicationConnectionString, string slot, string tenantId, IReadOnlyList<CdcTable> tables,
        Func<CdcTable, long, Task> onRows, CancellationToken cancellationToken)
    {
        var temporary = $"{slot}_snap_{Guid.NewGuid():N}"[..Math.Min(63, slot.Length + 18)];
        await using var replication = new LogicalReplicationConnection(replicationConnectionString);
        await replication.Open(cancellationToken);
        var created = await replication.CreatePgOutputReplicationSlot(temporary, temporarySlot: true,
            slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: cancellationToken);
        var snapshotName = created.SnapshotName ?? throw new InvalidOperationException($"Slot {temporary} exported no snapshot.");
        if (!SnapshotNamePattern().IsMatch(snapshotName))
        {
            throw new InvalidOperationException($"Unexpected snapshot name '{snapshotName}'.");
        }

        await using var connection = await catalog.DataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, $"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshotName}'; SET LOCAL TimeZone = 'UTC'", cancellationToken);
        ulong version;
        await using (var restart = new NpgsqlCommand("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = $1", connection) { Parameters = { new() { Value = temporary } } })
        {
            version = (ulong)(NpgsqlLogSequenceNumber)(await restart.ExecuteScalarAsync(cancellationToken))!;
        }

        logger.LogInformation("Snapshot {Snapshot} of {Tables}: consistent point {ConsistentPoint}, rows versioned {Version} (the temporary slot's restart_lsn)",
            snapshotName, string.Join(", ", tables), created.ConsistentPoint, PgText.Lsn(version));

        var takenAt = DateTimeOffset.UtcNow;
        var counts = new Dictionary<CdcTable, long>();
        var pending = new List<Task<DeliveryResult<byte[], byte[]>>>(AckWindow);
        foreach (var table in tables)
        {
            // Columns as this snapshot sees them: the catalog is read inside the same transaction.
            var columns = await ColumnsInSnapshotAsync(connection, table, cancellationToken);
            // The snapshot is the whole table at its version: a truncation just below it hides every older row, so
            // a row deleted while its delete was not replicated (Kafka lost it, an earlier slot missed it) goes too.
            pending.Add(producer.ProduceAsync(table, new ChangeEnvelope(ChangeEnvelope.Truncate, null, null,
                new ChangeSource(table.Schema, table.Name, version - 1, PgText.Lsn(version - 1), takenAt, null, Snapshot: true),
                columns, tenantId)));
            var select = $"SELECT {string.Join(", ", columns.Select(c => CaptureCatalog.Quote(c.Name) + "::text"))} FROM {CaptureCatalog.Quote(table)}";
            long rows = 0;
            await using (var command = new NpgsqlCommand(select, connection))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    var after = new Dictionary<string, string?>(columns.Count, StringComparer.Ordinal);
                    for (var i = 0; i < columns.Count; i++)
                    {
                        after[columns[i].Name] = PgText.Normalize(columns[i].Type, reader.IsDBNull(i) ? null : reader.GetString(i));
                    }

                    var envelope = new ChangeEnvelope(ChangeEnvelope.Read, null, after,
                        new ChangeSource(table.Schema, table.Name, version, PgText.Lsn(version), takenAt, null, Snapshot: true),
                        columns, tenantId);
                    pending.Add(producer.ProduceAsync(table, envelope));
                    rows++;
                    if (pending.Count >= AckWindow)
                    {
                        await Task.WhenAll(pending); // bounds memory; a failure throws here and the snapshot is not marked
                        pending.Clear();
                        await onRows(table, rows);
                    }
                }
            }

            counts[table] = rows;
        }

        await ExecuteAsync(connection, "COMMIT", cancellationToken);
        // Dropping the temporary slot early releases the WAL it holds; the rows are read.
        await replication.DisposeAsync();
        await Task.WhenAll(pending);
        foreach (var (table, rows) in counts)
        {
            await onRows(table, rows);
        }

        return (version, counts);
    }

    private static async Task<List<ChangeColumn>> ColumnsInSnapshotAsync(NpgsqlConnection connection, CdcTable table, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT a.attname::text, t.typname::text, a.atttypmod, COALESCE(a.attnum = ANY(i.indkey), false)
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, connection) { Parameters = { new() { Value = table.Schema }, new() { Value = table.Name } } };
        var columns = new List<ChangeColumn>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            columns.Add(new ChangeColumn(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetBoolean(3)));
        }

        return columns.Count > 0 ? columns : throw new InvalidOperationException($"{table} has no columns in the snapshot (dropped meanwhile?).");
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    [GeneratedRegex("^[0-9A-Fa-f-]+$")]
    private static partial Regex SnapshotNamePattern();
}
