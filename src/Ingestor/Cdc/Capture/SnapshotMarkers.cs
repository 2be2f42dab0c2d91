using System.Globalization;
using System.Text.Json.Serialization;
using Platform.ClickHouse;

namespace Ingestor.Cdc.Capture;

/// <summary>
/// Which tables have a completed initial snapshot for the current life of the durable slot, kept in
/// ClickHouse's <c>cdc_snapshots</c> (migration 0003). The slot's epoch (the row with table_name '') is
/// written before the bridge creates the slot, so a crash between creating it and finishing the snapshots
/// still makes every table snapshot again, and markers of an earlier slot of the same name never count.
/// A table's "lost" row (<see cref="MarkLostAsync"/>) is its own epoch: Kafka lost changes of it that the slot
/// had already moved past. An epoch is a WAL position read before the snapshot that answers it starts, and a
/// snapshot's version is at or after every position read before it, while each earlier snapshot wrote WAL
/// (its temporary slot) after its version: so a snapshot counts when its version is at or after the epoch.
/// </summary>
public sealed class SnapshotMarkers(ClickHouseClient clickHouse)
{
    private const string Table = "cdc_snapshots";
    private const string Epoch = "";
    private const string LostPrefix = "\u0001lost ";

    /// <summary>Per table (qualified name), the version of its completed snapshot newer than the slot's epoch.</summary>
    public async Task<Dictionary<string, ulong>> CompletedAsync(string tenantId, string slot, CancellationToken cancellationToken)
    {
        var rows = await clickHouse.QueryAsync(
            $"SELECT table_name, toString(max(snapshot_lsn)) AS lsn FROM {Table} " +
            $"WHERE tenant_id = {ClickHouseSql.Literal(tenantId)} AND slot_name = {ClickHouseSql.Literal(slot)} GROUP BY table_name",
            SnapshotMarkerJsonContext.Default.MarkerRow, cancellationToken: cancellationToken);
        var latest = rows.ToDictionary(r => r.Table, r => ulong.Parse(r.Lsn, CultureInfo.InvariantCulture), StringComparer.Ordinal);
        var epoch = latest.GetValueOrDefault(Epoch);
        return latest
            .Where(r => r.Key != Epoch && !r.Key.StartsWith(LostPrefix, StringComparison.Ordinal)
                && r.Value >= Math.Max(epoch, latest.GetValueOrDefault(LostPrefix + r.Key)))
            .ToDictionary(r => r.Key, r => r.Value, StringComparer.Ordinal);
    }

    public Task MarkEpochAsync(string tenantId, string slot, ulong walLsn, CancellationToken cancellationToken) =>
        InsertAsync(tenantId, slot, Epoch, walLsn, 0, cancellationToken);

    /// <summary>The table's snapshot no longer counts: Kafka lost changes of it that the slot had already confirmed.</summary>
    public Task MarkLostAsync(string tenantId, string slot, CdcTable table, ulong walLsn, CancellationToken cancellationToken) =>
        InsertAsync(tenantId, slot, LostPrefix + table.QualifiedName, walLsn, 0, cancellationToken);

    public Task MarkCompletedAsync(string tenantId, string slot, CdcTable table, ulong version, long rows, CancellationToken cancellationToken) =>
        InsertAsync(tenantId, slot, table.QualifiedName, version, rows, cancellationToken);

    private Task InsertAsync(string tenantId, string slot, string table, ulong lsn, long rows, CancellationToken cancellationToken) =>
        clickHouse.ExecuteAsync(
            $"INSERT INTO {Table} (tenant_id, slot_name, table_name, snapshot_lsn, rows) VALUES " +
            $"({ClickHouseSql.Literal(tenantId)}, {ClickHouseSql.Literal(slot)}, {ClickHouseSql.Literal(table)}, " +
            $"{lsn.ToString(CultureInfo.InvariantCulture)}, {ClickHouseSql.Literal(rows)})",
            cancellationToken: cancellationToken);
}

public sealed record MarkerRow([property: JsonPropertyName("table_name")] string Table, [property: JsonPropertyName("lsn")] string Lsn);

[JsonSerializable(typeof(MarkerRow))]
internal sealed partial class SnapshotMarkerJsonContext : JsonSerializerContext;
