using System.Text.RegularExpressions;

namespace Ingestor.Cdc;

/// <summary>
/// A replicated PostgreSQL table and the names derived from it: its topic, its ClickHouse table
/// (<c>cdc_{table}</c>, or <c>cdc_{schema}_{table}</c> outside public) and the view of its current rows.
/// Only plain lower-case identifiers are accepted, so every derived name is safe as a ClickHouse identifier.
/// </summary>
public sealed partial record CdcTable(string Schema, string Name)
{
    public string QualifiedName => $"{Schema}.{Name}";

    public string Topic(string prefix) => $"{prefix}{Schema}.{Name}";

    public string ClickHouseTable => Schema == "public" ? $"cdc_{Name}" : $"cdc_{Schema}_{Name}";

    public string ClickHouseView => ClickHouseTable + "_current";

    /// <summary>Parses <c>table</c> or <c>schema.table</c>; false for anything but plain lower-case identifiers.</summary>
    public static bool TryParse(string text, out CdcTable table)
    {
        var parts = text.Trim().Split('.');
        table = parts.Length switch
        {
            1 => new CdcTable("public", parts[0]),
            2 => new CdcTable(parts[0], parts[1]),
            _ => new CdcTable("", ""),
        };
        return Identifier().IsMatch(table.Schema) && Identifier().IsMatch(table.Name);
    }

    public override string ToString() => QualifiedName;

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex Identifier();
}
