using System.Globalization;
using System.Text.RegularExpressions;
using Platform.ClickHouse;

namespace Transformer.Retention;

/// <summary>
/// How a table's partitions map to days, read from its <c>partition_key</c> in <c>system.tables</c>.
/// Retention understands a partition key on its time column: <c>toYYYYMM(col)</c> (ids <c>202601</c>),
/// and <c>col</c> of type Date, <c>toDate(col)</c> or <c>toYYYYMMDD(col)</c> (ids <c>20260115</c>, on 18.16
/// a Date key's id is its value as YYYYMMDD even though <c>system.parts.partition</c> shows <c>2026-01-15</c>).
/// </summary>
internal sealed partial record PartitionLayout(bool Monthly, string TimeColumn, bool TimeIsDate)
{
    /// <summary>Null when the key is not one of the supported shapes on <paramref name="timeColumn"/>.</summary>
    public static PartitionLayout? Parse(string partitionKey, string timeColumn, string timeType)
    {
        var timeIsDate = timeType == "Date";
        if (!timeIsDate && !timeType.StartsWith("DateTime", StringComparison.Ordinal))
        {
            return null;
        }

        var match = KeyPattern().Match(partitionKey.Trim());
        if (!match.Success || match.Groups["column"].Value != timeColumn)
        {
            return null;
        }

        return match.Groups["function"].Value switch
        {
            "toYYYYMM" => new PartitionLayout(Monthly: true, timeColumn, timeIsDate),
            "toYYYYMMDD" or "toDate" => new PartitionLayout(Monthly: false, timeColumn, timeIsDate),
            "" when timeIsDate => new PartitionLayout(Monthly: false, timeColumn, timeIsDate),
            _ => null,
        };
    }

    /// <summary>The partition id of a row, as a number (the id's text is this number's).</summary>
    public string IdExpression =>
        $"{(Monthly ? "toYYYYMM" : "toYYYYMMDD")}({ClickHouseSql.Identifier(TimeColumn)})";

    /// <summary>The first day of the partition holding <paramref name="day"/>.</summary>
    public DateOnly StartOf(DateOnly day) => Monthly ? new DateOnly(day.Year, day.Month, 1) : day;

    public DateOnly FirstDay(uint id) => Monthly
        ? new DateOnly((int)(id / 100), (int)(id % 100), 1)
        : new DateOnly((int)(id / 10000), (int)(id / 100 % 100), (int)(id % 100));

    public DateOnly LastDay(uint id) => Monthly ? FirstDay(id).AddMonths(1).AddDays(-1) : FirstDay(id);

    /// <summary>Parses a partition id from <c>system.parts</c>; false for one this layout cannot have made.</summary>
    public bool TryParseId(string partitionId, out uint id)
    {
        id = 0;
        if (partitionId.Length != (Monthly ? 6 : 8)
            || !uint.TryParse(partitionId, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            || !DateOnly.TryParseExact(partitionId + (Monthly ? "01" : ""), "yyyyMMdd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            return false;
        }

        id = value;
        return true;
    }

    /// <summary>The start of <paramref name="day"/> as a literal comparable with the time column.</summary>
    public string TimeLiteral(DateOnly day) => TimeIsDate
        ? ClickHouseSql.Literal(day)
        : ClickHouseSql.Literal(new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));

    [GeneratedRegex(@"^(?:(?<function>toYYYYMM|toYYYYMMDD|toDate)\(\s*(?<column>[A-Za-z_][A-Za-z0-9_]*)\s*\)|(?<column>[A-Za-z_][A-Za-z0-9_]*))$")]
    private static partial Regex KeyPattern();
}
