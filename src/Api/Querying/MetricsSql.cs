using System.Globalization;
using Platform.ClickHouse;

namespace Api.Querying;

/// <summary>
/// The metrics query builder: every value an Api query puts into SQL passes through here (escaped
/// by <see cref="ClickHouseSql"/>), and every name is one of a fixed set. Event names, property
/// keys, filter values and time zones are literals; dimensions are whitelisted in <see cref="Dimension"/>.
/// Where the tenant predicate goes is decided in one other place only, <see cref="TenantSources"/>.
/// </summary>
public static class MetricsSql
{
    public static string Str(string value) => ClickHouseSql.Literal(value);

    public static string StrList(IEnumerable<string> values) => ClickHouseSql.List(values);

    public static string Instant(DateTimeOffset value) => ClickHouseSql.Literal(value);

    public static string Day(DateOnly value) => ClickHouseSql.Literal(value);

    public static string Int(long value) => ClickHouseSql.Literal(value);

    /// <summary>
    /// An event property's value as text: strings unquoted and unescaped, numbers and booleans as
    /// written, '' when absent. 18.16 has no JSON functions; visitParam reads the first field of
    /// that name at any depth, so nested objects with the same key are documented as ambiguous.
    /// </summary>
    public static string PropertyValue(string key)
    {
        var k = Str(key);
        return $"if(substring(visitParamExtractRaw(properties, {k}), 1, 1) = '\"', visitParamExtractString(properties, {k}), visitParamExtractRaw(properties, {k}))";
    }

    /// <summary>The local date of an instant column in the query's zone.</summary>
    public static string LocalDay(string timeColumn, string timeZone) => $"toDate({timeColumn}, {Str(timeZone)})";

    /// <summary>The start of the bucket holding an instant column, as Unix seconds (local midnights and Mondays for days and weeks).</summary>
    public static string BucketStart(Interval interval, string timeColumn, string timeZone) => interval switch
    {
        Interval.Minute => $"toUInt32(toStartOfMinute({timeColumn}))",
        Interval.Hour => $"toUInt32(toStartOfHour({timeColumn}, {Str(timeZone)}))",
        Interval.Day => $"toUInt32(toDateTime({LocalDay(timeColumn, timeZone)}, {Str(timeZone)}))",
        _ => $"toUInt32(toDateTime(toMonday({LocalDay(timeColumn, timeZone)}), {Str(timeZone)}))",
    };

    /// <summary>The start of a bucket holding a Date column (rollups, which are UTC days): days, or Mondays.</summary>
    public static string DayBucketStart(Interval interval, string dayColumn) => interval switch
    {
        Interval.Day => $"toUInt32(toDateTime({dayColumn}, 'UTC'))",
        Interval.Week => $"toUInt32(toDateTime(toMonday({dayColumn}), 'UTC'))",
        _ => throw new ArgumentOutOfRangeException(nameof(interval), "Rollups hold whole days."),
    };

    /// <summary>The median of a numeric array expression (mean of the middle two for an even count; 0 when empty).</summary>
    public static string Median(string arrayExpression) =>
        $"if(empty({arrayExpression}), 0, arrayReduce('avg', arraySlice(arraySort({arrayExpression}), intDiv(length({arrayExpression}) + 1, 2), 2 - length({arrayExpression}) % 2)))";

    /// <summary>The nearest-rank percentile (0 &lt; p ≤ 1) of a numeric array expression: the value at rank ceil(p·n); 0 when empty.</summary>
    public static string NearestRank(string arrayExpression, double p) =>
        $"if(empty({arrayExpression}), 0, arraySort({arrayExpression})[toUInt64(greatest(1, ceil({p.ToString("R", CultureInfo.InvariantCulture)} * length({arrayExpression}))))])";

    public static string And(IEnumerable<string> predicates)
    {
        var list = predicates.Where(p => p.Length > 0).ToList();
        return list.Count == 0 ? "1" : string.Join(" AND ", list.Select(p => $"({p})"));
    }
}
