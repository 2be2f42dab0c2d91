using Npgsql;
using NpgsqlTypes;

namespace Ingestor.Cdc.Capture;

/// <summary>One configured table as the catalog describes it now: accepted with its columns, or refused with the reason.</summary>
public sealed record TableCheck(CdcTable Table, string? Error, IReadOnlyList<ChangeColumn> Columns)
{
    public bool Accepted => Error is null;
}

/// <summary>
/// What capture asks PostgreSQL's catalog over an ordinary connection: whether a table can be replicated
/// and its columns, the publication, the durable slot, and the slot's position. Every identifier it writes
/// into SQL has passed <see cref="CdcTable.TryParse"/> (plain lower-case), and is quoted anyway.
/// </summary>
public sealed class CaptureCatalog(NpgsqlDataSource dataSource)
{
    public NpgsqlDataSource DataSource => dataSource;

    /// <summary>Checks one configured entry; <paramref name="text"/> is the entry as configured (for the name check).</summary>
    public async Task<TableCheck> CheckAsync(string text, CancellationToken cancellationToken)
    {
        if (!CdcTable.TryParse(text, out var table))
        {
            return new TableCheck(NameOf(text), $"'{text.Trim()}' is not a plain lower-case table name ([a-z_][a-z0-9_]*, optionally schema.table): the bridge derives topic and ClickHouse names from it; rename the table", []);
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var find = new NpgsqlCommand(
            "SELECT c.oid, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
            connection) { Parameters = { new() { Value = table.Schema }, new() { Value = table.Name } } };
        uint oid;
        await using (var reader = await find.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return new TableCheck(table, $"{table} does not exist in the app database: create it (with a primary key); the bridge checks again every RecheckInterval", []);
            }

            oid = reader.GetFieldValue<uint>(0);
            if (reader.GetString(1) is not ("r" or "p"))
            {
                return new TableCheck(table, $"{table} is not a table (views and other relations cannot be published): replicate its base table instead", []);
            }
        }

        var columns = await ColumnsAsync(connection, oid, cancellationToken);
        if (!columns.Any(c => c.Key))
        {
            return new TableCheck(table, $"{table} has no primary key: the bridge cannot key its changes; add one", columns);
        }

        return new TableCheck(table, null, columns);
    }

    /// <summary>The table's columns in table order (generated columns left out: pgoutput does not send them), with primary-key flags.</summary>
    public async Task<IReadOnlyList<ChangeColumn>> ColumnsAsync(CdcTable table, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var find = new NpgsqlCommand(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
            connection) { Parameters = { new() { Value = table.Schema }, new() { Value = table.Name } } };
        return await find.ExecuteScalarAsync(cancellationToken) is uint oid ? await ColumnsAsync(connection, oid, cancellationToken) : [];
    }

    private static async Task<IReadOnlyList<ChangeColumn>> ColumnsAsync(NpgsqlConnection connection, uint oid, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT a.attname::text, t.typname::text, a.atttypmod, COALESCE(a.attnum = ANY(i.indkey), false)
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum
            """, connection) { Parameters = { new() { Value = oid, NpgsqlDbType = NpgsqlDbType.Oid } } };
        var columns = new List<ChangeColumn>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            columns.Add(new ChangeColumn(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetBoolean(3)));
        }

        return columns;
    }

    /// <summary>Type names by OID, for the columns of a pgoutput Relation message.</summary>
    public async Task<Dictionary<uint, string>> TypeNamesAsync(IEnumerable<uint> oids, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT oid, typname::text FROM pg_type WHERE oid = ANY($1)", connection)
        {
            Parameters = { new() { Value = oids.Distinct().ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Oid } },
        };
        var names = new Dictionary<uint, string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            names[reader.GetFieldValue<uint>(0)] = reader.GetString(1);
        }

        return names;
    }

    /// <summary>
    /// Creates the publication with the accepted tables, or adds the ones it lacks. Never removes a table:
    /// a table dropped from configuration keeps flowing into the slot and is skipped by capture.
    /// </summary>
    public async Task EnsurePublicationAsync(string publication, IReadOnlyList<CdcTable> tables, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("SELECT puballtables FROM pg_publication WHERE pubname = $1", connection)
        {
            Parameters = { new() { Value = publication } },
        };
        var allTables = await exists.ExecuteScalarAsync(cancellationToken);
        if (allTables is null)
        {
            var list = tables.Count == 0 ? "" : " FOR TABLE " + string.Join(", ", tables.Select(Quote));
            await ExecuteAsync(connection, $"CREATE PUBLICATION {Quote(publication)}{list}", cancellationToken);
            return;
        }

        if (allTables is true)
        {
            return;
        }

        await using var members = new NpgsqlCommand("SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1", connection)
        {
            Parameters = { new() { Value = publication } },
        };
        var present = new HashSet<CdcTable>();
        await using (var reader = await members.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                present.Add(new CdcTable(reader.GetString(0), reader.GetString(1)));
            }
        }

        var missing = tables.Where(t => !present.Contains(t)).ToList();
        if (missing.Count > 0)
        {
            await ExecuteAsync(connection, $"ALTER PUBLICATION {Quote(publication)} ADD TABLE {string.Join(", ", missing.Select(Quote))}", cancellationToken);
        }
    }

    /// <summary>The durable slot as the server has it: null when missing; its plugin and database otherwise.</summary>
    public async Task<(string Plugin, string? Database)?> FindSlotAsync(string slot, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT plugin::text, database::text FROM pg_replication_slots WHERE slot_name = $1", connection)
        {
            Parameters = { new() { Value = slot } },
        };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? (reader.IsDBNull(0) ? "" : reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1))
            : null;
    }

    public async Task<string> DatabaseAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT current_database()::text", connection);
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task<ulong> CurrentWalLsnAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT pg_current_wal_lsn()", connection);
        return (ulong)(NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>The server's WAL position and the slot's positions; null when the slot does not exist.</summary>
    public async Task<SlotSample?> SampleSlotAsync(string slot, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "SELECT pg_current_wal_lsn(), confirmed_flush_lsn, restart_lsn, active FROM pg_replication_slots WHERE slot_name = $1", connection)
        {
            Parameters = { new() { Value = slot } },
        };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        ulong Lsn(int i) => reader.IsDBNull(i) ? 0UL : (ulong)reader.GetFieldValue<NpgsqlLogSequenceNumber>(i);
        return new SlotSample(DateTimeOffset.UtcNow, Lsn(0), Lsn(1), Lsn(2), reader.GetBoolean(3));
    }

    /// <summary>The configured entry as a table, also when it is not a valid name (so its refusal can be shown under it).</summary>
    public static CdcTable NameOf(string text) =>
        CdcTable.TryParse(text, out var table) ? table
        : text.Trim().Split('.') is [var schema, var name] ? new CdcTable(schema, name)
        : new CdcTable("public", text.Trim());

    public static string Quote(CdcTable table) => $"{Quote(table.Schema)}.{Quote(table.Name)}";

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
