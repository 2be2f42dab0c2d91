using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Platform.ClickHouse;

/// <summary>
/// The one place where values and names enter SQL text. ClickHouse 18.16 has no query parameters,
/// so every literal is escaped here and every identifier is checked against a strict pattern.
/// </summary>
public static partial class ClickHouseSql
{
    /// <summary>A single-quoted string literal; backslash, quote and control characters are escaped.</summary>
    public static string Literal(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var sb = new StringBuilder(value.Length + 2).Append('\'');
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '\'': sb.Append(@"\'"); break;
                case '\n': sb.Append(@"\n"); break;
                case '\r': sb.Append(@"\r"); break;
                case '\t': sb.Append(@"\t"); break;
                case '\0': sb.Append(@"\0"); break;
                case < ' ': sb.Append(@"\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture)); break;
                default: sb.Append(c); break;
            }
        }

        return sb.Append('\'').ToString();
    }

    public static string Literal(long value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Literal(double value) =>
        double.IsFinite(value) ? value.ToString("R", CultureInfo.InvariantCulture) : throw new ArgumentOutOfRangeException(nameof(value));

    /// <summary>A UTC instant as <c>toDateTime('yyyy-MM-dd HH:mm:ss', 'UTC')</c> (second precision, as DateTime columns are).</summary>
    public static string Literal(DateTimeOffset value) =>
        $"toDateTime('{value.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}', 'UTC')";

    public static string Literal(DateOnly value) =>
        $"toDate('{value.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}')";

    /// <summary>A comma-separated list of string literals, for <c>IN (...)</c>.</summary>
    public static string List(IEnumerable<string> values) => string.Join(", ", values.Select(Literal));

    /// <summary>
    /// A back-quoted identifier. Only names made of letters, digits and underscores pass: a name
    /// from outside is checked against a whitelist before it reaches here, this is the last wall.
    /// </summary>
    public static string Identifier(string name)
    {
        if (!IsIdentifier(name))
        {
            throw new ArgumentException($"'{name}' is not a valid ClickHouse identifier.", nameof(name));
        }

        return $"`{name}`";
    }

    /// <summary>A <c>database.table</c> reference.</summary>
    public static string Table(string database, string table) => $"{Identifier(database)}.{Identifier(table)}";

    public static bool IsIdentifier(string? name) => name is not null && IdentifierPattern().IsMatch(name);

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    private static partial Regex IdentifierPattern();
}
