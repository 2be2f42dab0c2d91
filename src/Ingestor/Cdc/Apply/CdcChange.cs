using System.Text.Json;
using System.Text.Json.Nodes;
using Confluent.Kafka;

namespace Ingestor.Cdc.Apply;

/// <summary>
/// One change record as read from a table's topic: either a usable change (its values already converted
/// to ClickHouse values) or a refusal with the reason it goes to the dead-letter topic.
/// </summary>
public sealed class CdcChange
{
    private CdcChange(ConsumeResult<byte[], byte[]> record) => Record = record;

    public ConsumeResult<byte[], byte[]> Record { get; }

    /// <summary>Null when refused.</summary>
    public ChangeEnvelope? Envelope { get; private init; }

    public string? Refusal { get; private init; }

    /// <summary>The envelope field the refusal is about, when one is.</summary>
    public string? Field { get; private init; }

    /// <summary>Key columns' values, in <see cref="ChangeEnvelope.Columns"/> order.</summary>
    public IReadOnlyList<KeyValuePair<string, JsonNode?>> Key { get; private init; } = [];

    /// <summary>The key as one comparable string (for finding a row's latest change in a batch).</summary>
    public string KeyText { get; private init; } = "";

    /// <summary>Every column's new value (c, u, r); an update's unchanged TOASTed columns are absent.</summary>
    public IReadOnlyDictionary<string, JsonNode?> Values { get; private init; } = new Dictionary<string, JsonNode?>();

    /// <summary>Columns an update left out (unchanged TOASTed values): their stored values are kept.</summary>
    public IReadOnlyList<string> Unchanged { get; private init; } = [];

    public bool IsDelete => Envelope?.Op == ChangeEnvelope.Delete;

    public bool IsTruncate => Envelope?.Op == ChangeEnvelope.Truncate;

    /// <summary>Reads and checks a record of <paramref name="table"/>'s topic for <paramref name="tenantId"/>.</summary>
    public static CdcChange Parse(ConsumeResult<byte[], byte[]> record, CdcTable table, string tenantId)
    {
        ChangeEnvelope? envelope;
        try
        {
            envelope = record.Message.Value is { Length: > 0 } value ? JsonSerializer.Deserialize(value, CdcJsonContext.Default.ChangeEnvelope) : null;
        }
        catch (JsonException ex)
        {
            return Refuse(record, $"The record is not a change envelope: {ex.Message}", ex.Path?.TrimStart('$', '.'));
        }

        if (envelope is null)
        {
            return Refuse(record, "The record is empty: a change envelope was expected.");
        }

        if (Check(envelope, table, tenantId) is { } refusal)
        {
            return Refuse(record, refusal.Reason, refusal.Field);
        }

        if (envelope.Op == ChangeEnvelope.Truncate)
        {
            return new CdcChange(record) { Envelope = envelope };
        }

        var source = envelope.Op == ChangeEnvelope.Delete ? envelope.Before! : envelope.After!;
        var sourceName = envelope.Op == ChangeEnvelope.Delete ? "before" : "after";
        var key = new List<KeyValuePair<string, JsonNode?>>();
        foreach (var column in envelope.Columns.Where(c => c.Key))
        {
            if (!source.TryGetValue(column.Name, out var text) || text is null)
            {
                return Refuse(record, $"Key column '{column.Name}' has no value in {sourceName}.", $"{sourceName}.{column.Name}");
            }

            if (!CdcTypes.TryConvert(text, column.Type, out var converted, out var error))
            {
                return Refuse(record, $"Key column '{column.Name}': {error}", $"{sourceName}.{column.Name}");
            }

            key.Add(new(column.Name, converted));
        }

        var values = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        var unchanged = new List<string>();
        if (envelope.Op != ChangeEnvelope.Delete)
        {
            var columns = envelope.Columns.ToDictionary(c => c.Name, StringComparer.Ordinal);
            foreach (var name in envelope.After!.Keys.Where(n => !columns.ContainsKey(n)))
            {
                return Refuse(record, $"after has a column '{name}' that columns does not list.", $"after.{name}");
            }

            foreach (var column in envelope.Columns)
            {
                if (!envelope.After!.TryGetValue(column.Name, out var text))
                {
                    if (envelope.Op != ChangeEnvelope.Update)
                    {
                        return Refuse(record, $"after lacks column '{column.Name}' (only an update may leave out an unchanged value).", $"after.{column.Name}");
                    }

                    unchanged.Add(column.Name);
                    continue;
                }

                if (!CdcTypes.TryConvert(text, column.Type, out var converted, out var error))
                {
                    return Refuse(record, $"Column '{column.Name}': {error}", $"after.{column.Name}");
                }

                values[column.Name] = converted;
            }
        }

        return new CdcChange(record)
        {
            Envelope = envelope,
            Key = key,
            KeyText = string.Join('\u001f', key.Select(k => k.Value?.ToJsonString() ?? "null")),
            Values = values,
            Unchanged = unchanged,
        };
    }

    private static (string Reason, string? Field)? Check(ChangeEnvelope envelope, CdcTable table, string tenantId)
    {
        // The serializer leaves a missing field null, whatever the record type says.
        if (envelope.Op is null)
        {
            return ("op is required.", "op");
        }

        if (envelope.Op is not (ChangeEnvelope.Insert or ChangeEnvelope.Update or ChangeEnvelope.Delete or ChangeEnvelope.Read or ChangeEnvelope.Truncate))
        {
            return ($"Unknown op '{Short(envelope.Op)}' (expected c, u, d, r or t).", "op");
        }

        if (envelope.TenantId is null or "")
        {
            return ("tenantId is required.", "tenantId");
        }

        if (envelope.TenantId != tenantId)
        {
            return ($"tenantId '{Short(envelope.TenantId)}' is not the bridge's tenant '{tenantId}' (Cdc:TenantId): refused.", "tenantId");
        }

        if (envelope.Source is null)
        {
            return ("source is required.", "source");
        }

        if (envelope.Source.Schema != table.Schema || envelope.Source.Table != table.Name)
        {
            return ($"source names {Short(envelope.Source.Schema)}.{Short(envelope.Source.Table)} but the record is on {table.QualifiedName}'s topic.", "source");
        }

        var commit = envelope.Source.CommitTime.UtcDateTime;
        if (commit.Year is < 1970 or > 2105)
        {
            return ("source.commitTime is outside what ClickHouse can store (1970-2105).", "source.commitTime");
        }

        if (envelope.Columns is null || envelope.Columns.Count == 0)
        {
            return ("columns is required.", "columns");
        }

        if (envelope.Columns.Any(c => c is null || c.Name is null or "" || c.Type is null or ""))
        {
            return ("Every column needs a name and a type.", "columns");
        }

        if (envelope.Columns.GroupBy(c => c.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } duplicate)
        {
            return ($"columns lists '{Short(duplicate.Key)}' twice.", "columns");
        }

        if (!envelope.Columns.Any(c => c.Key))
        {
            return ("columns marks no key column: a row cannot be identified.", "columns");
        }

        return envelope.Op switch
        {
            ChangeEnvelope.Truncate => null,
            ChangeEnvelope.Delete when envelope.Before is null => ("A delete needs before (its key values).", "before"),
            not ChangeEnvelope.Delete when envelope.After is null => ($"An op '{envelope.Op}' change needs after.", "after"),
            _ => null,
        };
    }

    private static string Short(string text) => text.Length <= 64 ? text : text[..64] + "...";

    private static CdcChange Refuse(ConsumeResult<byte[], byte[]> record, string reason, string? field = null) =>
        new(record) { Refusal = reason, Field = field };
}
