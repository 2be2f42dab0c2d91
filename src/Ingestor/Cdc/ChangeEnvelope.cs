using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ingestor.Cdc;

/// <summary>
/// One change record on a table's topic (Debezium-like). The Kafka key is the JSON object of the key
/// columns' values (<see cref="ChangeEnvelope.KeyOf"/>), so one row's changes stay in one partition, in order.
/// </summary>
/// <param name="Op"><c>c</c> insert, <c>u</c> update, <c>d</c> delete, <c>r</c> row read by a snapshot, <c>t</c> the table truncated.</param>
/// <param name="Before">Old values: the key columns (all columns under REPLICA IDENTITY FULL); null for c, r and t.</param>
/// <param name="After">New values; null for d and t. A column missing from an update's After is an unchanged TOASTed value: keep the stored one.</param>
/// <param name="Columns">The relation's columns as PostgreSQL describes them now, in table order.</param>
/// <remarks>
/// Values are PostgreSQL's text output, except timestamptz, normalised to UTC ISO 8601 with a <c>Z</c>
/// (<c>2026-11-22T04:38:41.123456Z</c>); null is SQL NULL.
/// </remarks>
public sealed record ChangeEnvelope(
    string Op,
    Dictionary<string, string?>? Before,
    Dictionary<string, string?>? After,
    ChangeSource Source,
    IReadOnlyList<ChangeColumn> Columns,
    string TenantId)
{
    public const string Insert = "c", Update = "u", Delete = "d", Read = "r", Truncate = "t";

    public static byte[] KeyOf(IReadOnlyList<ChangeColumn> columns, IReadOnlyDictionary<string, string?> values)
    {
        var key = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var column in columns.Where(c => c.Key))
        {
            key[column.Name] = values.GetValueOrDefault(column.Name);
        }

        return JsonSerializer.SerializeToUtf8Bytes(key, CdcJsonContext.Default.DictionaryStringString);
    }
}

/// <param name="Version">
/// The row version ClickHouse keeps the latest of: the change's own WAL position (LSN) for streamed changes,
/// the snapshot's consistent point for snapshot rows. For one row, versions grow in commit order.
/// </param>
/// <param name="Lsn">The same position as PostgreSQL writes it (<c>0/16B3748</c>).</param>
/// <param name="CommitTime">When the transaction committed (the snapshot's time for snapshot rows).</param>
/// <param name="TxId">The transaction id; null for snapshot rows.</param>
public sealed record ChangeSource(
    string Schema,
    string Table,
    ulong Version,
    string Lsn,
    DateTimeOffset CommitTime,
    uint? TxId,
    bool Snapshot);

/// <param name="Type">PostgreSQL's type name (<c>int8</c>, <c>text</c>, <c>timestamptz</c>, <c>numeric</c>, <c>_int4</c> for arrays).</param>
/// <param name="TypeModifier">The atttypmod (-1 when none); a retype that only changes it (varchar(10) -> varchar(20)) is still a retype.</param>
/// <param name="Key">Part of the primary key.</param>
public sealed record ChangeColumn(string Name, string Type, int TypeModifier, bool Key);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ChangeEnvelope))]
[JsonSerializable(typeof(Dictionary<string, string?>))]
public sealed partial class CdcJsonContext : JsonSerializerContext;
