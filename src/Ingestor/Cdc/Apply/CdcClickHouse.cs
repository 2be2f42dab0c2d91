using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Platform.ClickHouse;

namespace Ingestor.Cdc.Apply;

/// <summary>
/// The apply side's ClickHouse statements: a replicated table's DDL (created from its first envelope,
/// extended by added columns), its view of current rows (after its latest truncation), the <c>cdc_columns</c>
/// record, stored-row lookups for unchanged TOASTed values, and the inserts. Every statement is safe to repeat
/// after a failure.
/// </summary>
public sealed class CdcClickHouse(ClickHouseClient client, TimeProvider time)
{
    private const string ColumnsTable = "cdc_columns";
    private const string TruncationsTable = "cdc_truncations";

    private string Db => client.Database;

    private string Qualified(string name) => $"{Db}.{ClickHouseSql.Identifier(name)}";

    /// <summary>The recorded schema of <paramref name="table"/>'s ClickHouse table; null when that table does not exist.</summary>
    public async Task<CdcTableSchema?> LoadAsync(CdcTable table, CancellationToken cancellationToken)
    {
        if (!await ExistsAsync(table.ClickHouseTable, cancellationToken))
        {
            return null;
        }

        var rows = await client.QueryAsync(
            $"""
            SELECT generation, position, column_name, pg_type, type_modifier, is_key
            FROM {Qualified(ColumnsTable)} FINAL
            WHERE table_name = {ClickHouseSql.Literal(table.ClickHouseTable)}
            """, CdcApplyJsonContext.Default.ColumnRow, cancellationToken: cancellationToken);
        if (rows.Count == 0)
        {
            return new CdcTableSchema(0, []);
        }

        var generation = rows.Max(r => r.Generation);
        return new CdcTableSchema(generation, rows.Where(r => r.Generation == generation).OrderBy(r => r.Position)
            .Select(r => new RecordedColumn(r.ColumnName, r.PgType, r.TypeModifier, r.IsKey != 0, r.Position)).ToList());
    }

    /// <summary>Creates the table and its view from an envelope's columns, as a new generation (a dropped table's old record no longer counts).</summary>
    public async Task<CdcTableSchema> CreateAsync(CdcTable table, IReadOnlyList<ChangeColumn> columns, CancellationToken cancellationToken)
    {
        var schema = new CdcTableSchema((ulong)time.GetUtcNow().UtcTicks, columns.Select((c, i) => new RecordedColumn(c.Name, c.Type, c.TypeModifier, c.Key, i)).ToList());

        // Recorded first: a crash before the CREATE leaves a record of a table that does not exist, which counts for nothing.
        await RecordAsync(table, schema.Generation, schema.Columns, cancellationToken);
        var definitions = schema.Columns.Select(c => $"    {ClickHouseSql.Identifier(c.Name)} {ColumnType(c)},");
        var keys = string.Join(", ", schema.Columns.Where(c => c.Key).Select(c => ClickHouseSql.Identifier(c.Name)));
        await client.ExecuteAsync(
            $"""
            CREATE TABLE IF NOT EXISTS {Qualified(table.ClickHouseTable)}
            (
                tenant_id String,
            {string.Join('\n', definitions)}
                _version UInt64,
                is_deleted UInt8,
                _op String,
                _lsn String,
                _commit_time DateTime('UTC'),
                _tx_id UInt64,
                _applied_at DateTime('UTC')
            )
            ENGINE = ReplacingMergeTree(_version)
            ORDER BY (tenant_id, {keys})
            """, cancellationToken: cancellationToken);
        await CreateViewAsync(table, schema, cancellationToken);
        return schema;
    }

    /// <summary>A table that exists without a record (created by hand, or a crash between the two): record the envelope's columns and add what the table lacks.</summary>
    public async Task<CdcTableSchema> AdoptAsync(CdcTable table, IReadOnlyList<ChangeColumn> columns, CancellationToken cancellationToken)
    {
        var schema = new CdcTableSchema((ulong)time.GetUtcNow().UtcTicks, []);
        return await AddColumnsAsync(table, schema, columns, cancellationToken);
    }

    /// <summary>Adds columns (Nullable) that the table lacks, records them and recreates the view over them.</summary>
    public async Task<CdcTableSchema> AddColumnsAsync(CdcTable table, CdcTableSchema schema, IReadOnlyList<ChangeColumn> added, CancellationToken cancellationToken)
    {
        var existing = (await client.QueryScalarAsync(
                $"SELECT name FROM system.columns WHERE database = {ClickHouseSql.Literal(client.Settings.Database)} AND table = {ClickHouseSql.Literal(table.ClickHouseTable)}",
                cancellationToken: cancellationToken))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        var columns = schema.Columns.ToList();
        foreach (var column in added)
        {
            var recorded = new RecordedColumn(column.Name, column.Type, column.TypeModifier, column.Key, columns.Count);
            if (!existing.Contains(column.Name))
            {
                // After the last PostgreSQL column, so the bridge's own columns stay at the end. 18.16 has no ADD COLUMN IF NOT EXISTS.
                var after = existing.LastOrDefault(n => !CdcTableSchema.Reserved.Contains(n)) ?? "tenant_id";
                await client.ExecuteAsync(
                    $"ALTER TABLE {Qualified(table.ClickHouseTable)} ADD COLUMN {ClickHouseSql.Identifier(column.Name)} {ColumnType(recorded with { Key = false })} AFTER {ClickHouseSql.Identifier(after)}",
                    cancellationToken: cancellationToken);
                existing.Insert(existing.IndexOf(after) + 1, column.Name);
            }

            columns.Add(recorded);
        }

        await RecordAsync(table, schema.Generation, columns.Skip(schema.Columns.Count).ToList(), cancellationToken);
        var extended = schema with { Columns = columns };
        await CreateViewAsync(table, extended, cancellationToken);
        return extended;
    }

    /// <summary>
    /// The stored values of <paramref name="columns"/> for one row, from its latest version older than
    /// <paramref name="version"/>; null when ClickHouse holds no such version.
    /// </summary>
    public async Task<JsonObject?> LookupAsync(CdcTable table, string tenantId, IReadOnlyList<KeyValuePair<string, JsonNode?>> key, ulong version,
        IReadOnlyList<string> columns, CancellationToken cancellationToken)
    {
        var where = string.Join(" AND ", key.Select(k => $"{ClickHouseSql.Identifier(k.Key)} = {Literal(k.Value)}"));
        var rows = await client.QueryAsync(
            $"""
            SELECT {string.Join(", ", columns.Select(ClickHouseSql.Identifier))}
            FROM {Qualified(table.ClickHouseTable)} {JoinTruncatedAt(table)}
            WHERE tenant_id = {ClickHouseSql.Literal(tenantId)} AND {where} AND _version < {version.ToString(CultureInfo.InvariantCulture)} AND is_deleted = 0
              AND _version > {TruncatedAt}
            ORDER BY _version DESC
            LIMIT 1
            """, CdcApplyJsonContext.Default.JsonObject, cancellationToken: cancellationToken);
        return rows.FirstOrDefault();
    }

    /// <summary>The highest version and commit time stored, so the status is right after a restart before anything new is applied.</summary>
    public async Task<(ulong Version, DateTimeOffset? CommitTime)> LastAppliedAsync(CdcTable table, CancellationToken cancellationToken)
    {
        if (!await ExistsAsync(table.ClickHouseTable, cancellationToken))
        {
            return (0, null);
        }

        var line = await client.QueryScalarAsync(
            $"SELECT max(_version), toUInt32(max(_commit_time)), count() FROM {Qualified(table.ClickHouseTable)}", cancellationToken: cancellationToken);
        var parts = line.Split('\t');
        var version = ulong.Parse(parts[0], CultureInfo.InvariantCulture);
        var seconds = long.Parse(parts[1], CultureInfo.InvariantCulture);
        return (version, long.Parse(parts[2], CultureInfo.InvariantCulture) > 0 ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null);
    }

    public Task<int> InsertAsync(CdcTable table, IReadOnlyCollection<JsonObject> rows, CancellationToken cancellationToken) =>
        client.InsertAsync(Qualified(table.ClickHouseTable), rows, CdcApplyJsonContext.Default.JsonObject, cancellationToken);

    /// <summary>Records truncations, first recreating a view from before truncations were replicated (it would still show the old rows).</summary>
    public async Task InsertTruncationsAsync(CdcTable table, CdcTableSchema schema, IReadOnlyCollection<JsonObject> truncations, CancellationToken cancellationToken)
    {
        var view = await client.QueryScalarAsync(
            $"SELECT create_table_query FROM system.tables WHERE database = {ClickHouseSql.Literal(client.Settings.Database)} AND name = {ClickHouseSql.Literal(table.ClickHouseView)}",
            cancellationToken: cancellationToken);
        if (!view.Contains(TruncatedAt, StringComparison.Ordinal))
        {
            await CreateViewAsync(table, schema, cancellationToken);
        }

        await client.InsertAsync(Qualified(TruncationsTable), truncations, CdcApplyJsonContext.Default.JsonObject, cancellationToken);
    }

    // The view's name for a row's tenant's latest truncation of the table; also how a view from before truncations were per tenant is recognised.
    private const string TruncatedAt = "_truncated_at";

    private async Task CreateViewAsync(CdcTable table, CdcTableSchema schema, CancellationToken cancellationToken)
    {
        // 18.16 has no CREATE OR REPLACE VIEW: for a moment between the two, the view is missing.
        await client.ExecuteAsync($"DROP TABLE IF EXISTS {Qualified(table.ClickHouseView)}", cancellationToken: cancellationToken);
        var columns = string.Join(", ", schema.Columns.OrderBy(c => c.Position).Select(c => ClickHouseSql.Identifier(c.Name)));
        await client.ExecuteAsync(
            $"CREATE VIEW {Qualified(table.ClickHouseView)} AS SELECT tenant_id, {columns} FROM {Qualified(table.ClickHouseTable)} FINAL " +
            $"{JoinTruncatedAt(table)} WHERE is_deleted = 0 AND _version > {TruncatedAt}",
            cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Joins each row's own tenant's latest truncation of the table as <c>_truncated_at</c>; a row counts when its version
    /// is above it, so one tenant's TRUNCATE or snapshot never hides another's rows. 18.16 has no correlated subqueries;
    /// a tenant never truncated joins no row, and its default 0 hides nothing.
    /// </summary>
    private string JoinTruncatedAt(CdcTable table) =>
        $"ANY LEFT JOIN (SELECT tenant_id, max(_version) AS {TruncatedAt} FROM {Qualified(TruncationsTable)} " +
        $"WHERE table_name = {ClickHouseSql.Literal(table.ClickHouseTable)} GROUP BY tenant_id) USING (tenant_id)";

    private async Task RecordAsync(CdcTable table, ulong generation, IReadOnlyList<RecordedColumn> columns, CancellationToken cancellationToken)
    {
        if (columns.Count == 0)
        {
            return;
        }

        var values = columns.Select(c => string.Create(CultureInfo.InvariantCulture,
            $"({ClickHouseSql.Literal(table.ClickHouseTable)}, {generation}, {c.Position}, {ClickHouseSql.Literal(c.Name)}, {ClickHouseSql.Literal(c.Type)}, {c.TypeModifier}, {(c.Key ? 1 : 0)})"));
        await client.ExecuteAsync(
            $"INSERT INTO {Qualified(ColumnsTable)} (table_name, generation, position, column_name, pg_type, type_modifier, is_key) VALUES {string.Join(", ", values)}",
            cancellationToken: cancellationToken);
    }

    private async Task<bool> ExistsAsync(string name, CancellationToken cancellationToken) =>
        await client.QueryLongAsync(
            $"SELECT count() FROM system.tables WHERE database = {ClickHouseSql.Literal(client.Settings.Database)} AND name = {ClickHouseSql.Literal(name)}",
            cancellationToken: cancellationToken) > 0;

    private static string ColumnType(RecordedColumn column) =>
        column.Key ? CdcTypes.ClickHouseType(column.Type) : $"Nullable({CdcTypes.ClickHouseType(column.Type)})";

    /// <summary>A converted key value (see <see cref="CdcTypes.TryConvert"/>) as a SQL literal.</summary>
    private static string Literal(JsonNode? value) => value switch
    {
        null => "NULL",
        JsonValue v when v.TryGetValue<long>(out var l) => ClickHouseSql.Literal(l),
        JsonValue v when v.TryGetValue<int>(out var i) => ClickHouseSql.Literal(i),
        JsonValue v when v.TryGetValue<double>(out var d) => ClickHouseSql.Literal(d),
        JsonValue v when v.TryGetValue<string>(out var s) => ClickHouseSql.Literal(s),
        _ => ClickHouseSql.Literal(value.ToJsonString()),
    };
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ColumnRow))]
[JsonSerializable(typeof(JsonObject))]
internal sealed partial class CdcApplyJsonContext : JsonSerializerContext;

internal sealed record ColumnRow(ulong Generation, int Position, string ColumnName, string PgType, int TypeModifier, int IsKey);
