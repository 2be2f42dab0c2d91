using System.Globalization;
using System.Text.Json.Nodes;

namespace Ingestor.Cdc.Apply;

/// <summary>
/// PostgreSQL column types as ClickHouse stores them, and PostgreSQL's text values as the JSONEachRow
/// values ClickHouse reads into those types. Pure: the unit tests cover it value by value.
/// </summary>
public static class CdcTypes
{
    private static readonly DateTime MinDateTime = new(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    // ClickHouse's DateTime and Date end in 2106 (UInt32 seconds, UInt16 days); refuse rather than wrap.
    private static readonly DateTime MaxDateTime = new(2105, 12, 31, 23, 59, 59, DateTimeKind.Utc);

    /// <summary>The ClickHouse type of a PostgreSQL type (not Nullable; the caller wraps non-key columns).</summary>
    public static string ClickHouseType(string pgType) => Normalize(pgType) switch
    {
        "int2" => "Int16",
        "int4" => "Int32",
        "int8" => "Int64",
        "float4" => "Float32",
        "float8" => "Float64",
        "numeric" => "Float64",
        "bool" => "UInt8",
        "date" => "Date",
        // Seconds in UTC; the column carries its zone, so the server's own zone never shifts a value.
        "timestamp" or "timestamptz" => "DateTime('UTC')",
        _ => "String",
    };

    /// <summary>PostgreSQL's SQL-standard spellings, as some tools print them, to the internal names pgoutput sends.</summary>
    private static string Normalize(string pgType) => pgType switch
    {
        "smallint" => "int2",
        "integer" or "int" => "int4",
        "bigint" => "int8",
        "real" => "float4",
        "double precision" => "float8",
        "decimal" => "numeric",
        "boolean" => "bool",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        _ => pgType,
    };

    /// <summary>A type with its modifier as PostgreSQL writes it (<c>varchar(20)</c>, <c>numeric(10,2)</c>), for messages.</summary>
    public static string Describe(string pgType, int typeModifier) => (Normalize(pgType), typeModifier) switch
    {
        (_, < 0) => pgType,
        ("varchar" or "bpchar", var m) when m >= 4 => $"{pgType}({m - 4})",
        ("numeric", var m) when m >= 4 => $"{pgType}({(m - 4) >> 16},{(m - 4) & 0xFFFF})",
        (_, var m) => string.Create(CultureInfo.InvariantCulture, $"{pgType} (typmod {m})"),
    };

    /// <summary>
    /// PostgreSQL's text for a value of <paramref name="pgType"/> as a JSON value for ClickHouse; false with a
    /// reason when it does not parse as that type or is outside what ClickHouse can store.
    /// </summary>
    public static bool TryConvert(string? text, string pgType, out JsonNode? value, out string? error)
    {
        value = null;
        error = null;
        if (text is null)
        {
            return true;
        }

        switch (Normalize(pgType))
        {
            case "int2":
                return Integer(text, short.MinValue, short.MaxValue, pgType, out value, out error);
            case "int4":
                return Integer(text, int.MinValue, int.MaxValue, pgType, out value, out error);
            case "int8":
                return Integer(text, long.MinValue, long.MaxValue, pgType, out value, out error);
            case "float4" or "float8" or "numeric":
                return Float(text, pgType, out value, out error);
            case "bool":
                switch (text)
                {
                    case "t" or "true":
                        value = 1;
                        return true;
                    case "f" or "false":
                        value = 0;
                        return true;
                    default:
                        error = $"'{Shorten(text)}' is not a bool (t or f).";
                        return false;
                }

            case "date":
                if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)
                    && date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc) is var day && day >= MinDateTime && day <= MaxDateTime)
                {
                    value = date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
                    return true;
                }

                error = $"'{Shorten(text)}' is not a date ClickHouse can store (yyyy-MM-dd, 1970-2105).";
                return false;
            case "timestamp" or "timestamptz":
                if (TryParseTimestamp(text, out var instant) && instant >= MinDateTime && instant <= MaxDateTime)
                {
                    value = instant.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
                    return true;
                }

                error = $"'{Shorten(text)}' is not a {pgType} ClickHouse can store (ISO 8601, 1970-2105).";
                return false;
            default:
                value = text;
                return true;
        }
    }

    /// <summary>
    /// ISO 8601 with <c>Z</c> or an offset (the contract's timestamptz), or PostgreSQL's own text
    /// (<c>2026-11-22 04:38:41.5</c>, <c>...+02</c>); no offset means UTC. Truncated to whole seconds.
    /// </summary>
    public static bool TryParseTimestamp(string text, out DateTime utc)
    {
        utc = default;
        var normalized = text.Trim();

        // PostgreSQL writes a whole-hour offset as +02; .NET wants +02:00.
        if (normalized.Length > 3 && normalized[^3] is '+' or '-' && char.IsAsciiDigit(normalized[^2]) && char.IsAsciiDigit(normalized[^1]) && normalized.Contains(':'))
        {
            normalized += ":00";
        }

        if (!DateTimeOffset.TryParse(normalized, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var parsed))
        {
            return false;
        }

        var instant = parsed.UtcDateTime;
        utc = new DateTime(instant.Ticks - instant.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        return true;
    }

    private static bool Integer(string text, long min, long max, string pgType, out JsonNode? value, out string? error)
    {
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max)
        {
            value = number;
            error = null;
            return true;
        }

        value = null;
        error = $"'{Shorten(text)}' is not an {pgType}.";
        return false;
    }

    private static bool Float(string text, string pgType, out JsonNode? value, out string? error)
    {
        error = null;
        switch (text)
        {
            // JSON has no NaN or infinities; ClickHouse reads these quoted.
            case "NaN":
                value = "nan";
                return true;
            case "Infinity":
                value = "inf";
                return true;
            case "-Infinity":
                value = "-inf";
                return true;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
        {
            value = number;
            return true;
        }

        value = null;
        error = $"'{Shorten(text)}' is not a {pgType}.";
        return false;
    }

    /// <summary>Values end up in dead-letter headers and logs: keep them short.</summary>
    private static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "...";
}
