using Platform.ClickHouse;
using Transformer.Models;

namespace Transformer.DataTests;

/// <summary>
/// A data test declared in a model's header. Each one is a query that returns the failing rows:
/// none means the test passes.
/// </summary>
public abstract record DataTestDefinition(string Name)
{
    /// <summary>Other models the test reads (a relationships target), checked at load.</summary>
    public virtual IEnumerable<string> Refs => [];

    public abstract string FailingRowsSql(RenderContext context);
}

/// <summary>No row where a column is NULL, an empty string or a zero date.</summary>
public sealed record NotNullTest(IReadOnlyList<string> Columns) : DataTestDefinition($"not_null({string.Join(", ", Columns)})")
{
    public override string FailingRowsSql(RenderContext context) =>
        $"SELECT * FROM {context.This} WHERE " + string.Join(" OR ", Columns.Select(c =>
        {
            var column = ClickHouseSql.Identifier(c);
            return $"isNull({column}) OR toString({column}) IN ('', '0000-00-00', '0000-00-00 00:00:00', '1970-01-01', '1970-01-01 00:00:00')";
        }));
}

/// <summary>No two rows share the columns' values (within one <c>per</c> value, e.g. a day, when given).</summary>
public sealed record UniqueTest(IReadOnlyList<string> Columns, string? Per) : DataTestDefinition(
    Per is null ? $"unique({string.Join(", ", Columns)})" : $"unique({string.Join(", ", Columns)}) per {Per}")
{
    public override string FailingRowsSql(RenderContext context)
    {
        var key = string.Join(", ", Columns.Concat(Per is null ? [] : [Per]).Select(ClickHouseSql.Identifier));
        return $"SELECT {key}, count() AS copies FROM {context.This} GROUP BY {key} HAVING copies > 1";
    }
}

public sealed record AcceptedValuesTest(string Column, IReadOnlyList<string> Values) : DataTestDefinition($"accepted_values({Column})")
{
    public override string FailingRowsSql(RenderContext context) =>
        $"SELECT * FROM {context.This} WHERE toString({ClickHouseSql.Identifier(Column)}) NOT IN ({ClickHouseSql.List(Values)})";
}

/// <summary>Every non-empty value of a column exists in another model's field, within the same tenant.</summary>
public sealed record RelationshipsTest(string Column, string To, string Field, string? TenantColumn) : DataTestDefinition($"relationships({Column} -> {To}.{Field})")
{
    public override IEnumerable<string> Refs => [To];

    public override string FailingRowsSql(RenderContext context)
    {
        var column = ClickHouseSql.Identifier(Column);
        var field = ClickHouseSql.Identifier(Field);
        var target = context.TableOf(To);
        if (TenantColumn is null)
        {
            return $"SELECT * FROM {context.This} WHERE {column} NOT IN (SELECT {field} FROM {target}) AND notEmpty(toString({column}))";
        }

        var tenant = ClickHouseSql.Identifier(TenantColumn);
        return $"SELECT * FROM {context.This} WHERE ({tenant}, {column}) NOT IN (SELECT {tenant}, {field} FROM {target}) AND notEmpty(toString({column}))";
    }
}

/// <summary>
/// The newest row is younger than a bound; an empty table is stale. Tests render with a window that
/// ends at the runner's clock, so "now" is the time the test runs, not the server's.
/// </summary>
public sealed record FreshnessTest(string Column, int MaxAgeMinutes) : DataTestDefinition($"freshness({Column} < {MaxAgeMinutes} min)")
{
    public override string FailingRowsSql(RenderContext context) =>
        $"SELECT max({ClickHouseSql.Identifier(Column)}) AS newest FROM {context.This} HAVING newest < {ClickHouseSql.Literal(context.Window.End)} - INTERVAL {MaxAgeMinutes} MINUTE";
}

/// <summary>A query of the model's author that returns failing rows.</summary>
public sealed record SqlTest(string TestName, SqlTemplate Query) : DataTestDefinition(TestName)
{
    public override IEnumerable<string> Refs => Query.Refs;

    public override string FailingRowsSql(RenderContext context) => Query.Render(context);
}
