namespace Ingestor.Cdc.Apply;

/// <summary>A PostgreSQL column as the apply side recorded it when it created or extended the ClickHouse table.</summary>
public sealed record RecordedColumn(string Name, string Type, int TypeModifier, bool Key, int Position)
{
    public string Describe() => CdcTypes.Describe(Type, TypeModifier);
}

/// <summary>
/// What a table's ClickHouse side looks like: its generation (when cdc_{table} was created, so records of a
/// dropped and recreated table are told apart) and its recorded PostgreSQL columns, in table order.
/// </summary>
public sealed record CdcTableSchema(ulong Generation, IReadOnlyList<RecordedColumn> Columns)
{
    /// <summary>The bridge's own columns; a PostgreSQL column of one of these names cannot be stored.</summary>
    public static readonly IReadOnlySet<string> Reserved = new HashSet<string>(StringComparer.Ordinal)
    {
        "tenant_id", "_version", "is_deleted", "_op", "_lsn", "_commit_time", "_tx_id", "_applied_at",
    };

    /// <summary>How an envelope's columns relate to the recorded ones: the same, with new columns to add, or a change that stops the table.</summary>
    public SchemaCheck Check(CdcTable table, IReadOnlyList<ChangeColumn> columns, string lsn)
    {
        var now = columns.ToDictionary(c => c.Name, StringComparer.Ordinal);
        foreach (var recorded in Columns)
        {
            if (!now.TryGetValue(recorded.Name, out var current))
            {
                return SchemaCheck.Stop(Stopped($"{table.QualifiedName}.{recorded.Name} was dropped (or renamed)", lsn));
            }

            if (current.Type != recorded.Type || current.TypeModifier != recorded.TypeModifier)
            {
                return SchemaCheck.Stop(Stopped(
                    $"{table.QualifiedName}.{recorded.Name} was retyped from {recorded.Describe()} to {CdcTypes.Describe(current.Type, current.TypeModifier)}", lsn));
            }

            if (current.Key != recorded.Key)
            {
                return SchemaCheck.Stop(Stopped(
                    $"{table.QualifiedName}.{recorded.Name} {(current.Key ? "joined" : "left")} the primary key", lsn));
            }
        }

        var recordedNames = Columns.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var added = columns.Where(c => !recordedNames.Contains(c.Name)).ToList();
        if (added.FirstOrDefault(c => c.Key) is { } newKey)
        {
            return SchemaCheck.Stop(Stopped($"{table.QualifiedName}.{newKey.Name} was added to the primary key", lsn));
        }

        if (NameProblem(table, added, lsn) is { } problem)
        {
            return SchemaCheck.Stop(problem);
        }

        return added.Count == 0 ? SchemaCheck.Same : SchemaCheck.Add(added);
    }

    /// <summary>Why columns cannot become ClickHouse columns (a name ClickHouse or the bridge cannot take), or null.</summary>
    public static string? NameProblem(CdcTable table, IEnumerable<ChangeColumn> columns, string lsn)
    {
        foreach (var column in columns)
        {
            if (Reserved.Contains(column.Name))
            {
                return Stopped($"{table.QualifiedName}.{column.Name} has the name of one of the bridge's own columns", lsn);
            }

            if (!Platform.ClickHouse.ClickHouseSql.IsIdentifier(column.Name))
            {
                return Stopped($"{table.QualifiedName} has a column whose name ClickHouse cannot take unquoted ('{column.Name}')", lsn);
            }
        }

        return null;
    }

    public static string Stopped(string what, string lsn) =>
        $"{what}; apply stopped at LSN {lsn}; see docs/cdc-apply.md (a stopped table).";
}

public sealed record SchemaCheck(string? StopReason, IReadOnlyList<ChangeColumn> Added)
{
    public static readonly SchemaCheck Same = new(null, []);

    public static SchemaCheck Stop(string reason) => new(reason, []);

    public static SchemaCheck Add(IReadOnlyList<ChangeColumn> added) => new(null, added);
}
