using System.Globalization;
using Platform.Tenancy;

namespace Api.Querying;

/// <summary>
/// A query's time range: [From, To) as instants, and the IANA time zone its days and weeks follow.
/// Bounds are dates (<c>2026-01-31</c>, midnight in that zone) or ISO-8601 instants with an offset.
/// </summary>
public sealed record TimeRange(DateTimeOffset From, DateTimeOffset To, string TimeZone)
{
    public bool IsUtc => TimeZone == "UTC";

    /// <summary>The first local day the range touches.</summary>
    public DateOnly FirstDay => LocalDate(From, TimeZone);

    /// <summary>The last local day the range touches (inclusive).</summary>
    public DateOnly LastDay => LocalDate(To.AddTicks(-1), TimeZone);

    public IEnumerable<DateOnly> Days()
    {
        for (var day = FirstDay; day <= LastDay; day = day.AddDays(1))
        {
            yield return day;
        }
    }

    public static TimeRange Parse(string? from, string? to, string? timeZone, TenantScope scope, DateTimeOffset now, TimeSpan defaultSpan, int maxDays)
    {
        var zone = ParseTimeZone(timeZone, scope);
        var end = string.IsNullOrEmpty(to) ? now : ParseBound("to", to, zone);
        var start = string.IsNullOrEmpty(from) ? end - defaultSpan : ParseBound("from", from, zone);
        if (start >= end)
        {
            throw new BadQueryException("from", "Bad time range", "'from' must be before 'to'.");
        }

        if (end - start > TimeSpan.FromDays(maxDays))
        {
            throw new BadQueryException("from", "Bad time range", $"A range may span at most {maxDays} days.");
        }

        return new TimeRange(start, end, zone);
    }

    /// <summary>The query's zone: the one named, else the tenant's default. "UTC" is spelled so.</summary>
    public static string ParseTimeZone(string? timeZone, TenantScope scope)
    {
        if (string.IsNullOrEmpty(timeZone))
        {
            return scope.DefaultTimeZone;
        }

        if (timeZone is "UTC" or "utc" or "Etc/UTC" or "Z")
        {
            return "UTC";
        }

        return TenantSettings.IsKnownTimeZone(timeZone)
            ? timeZone
            : throw new BadQueryException("tz", "Unknown time zone", $"'tz' must be an IANA time zone such as 'Europe/Berlin' or 'UTC'.");
    }

    /// <summary>Midnight of a local date in the zone, as an instant (a midnight skipped by a DST change is the first valid time after it).</summary>
    public static DateTimeOffset LocalMidnight(DateOnly day, string timeZone)
    {
        if (timeZone == "UTC")
        {
            return new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        }

        var zone = TimeZoneInfo.FindSystemTimeZoneById(timeZone);
        var local = day.ToDateTime(TimeOnly.MinValue);
        while (zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(15);
        }

        return new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(local, zone), TimeSpan.Zero);
    }

    public static DateOnly LocalDate(DateTimeOffset instant, string timeZone) =>
        DateOnly.FromDateTime(timeZone == "UTC" ? instant.UtcDateTime : TimeZoneInfo.ConvertTime(instant, TimeZoneInfo.FindSystemTimeZoneById(timeZone)).DateTime);

    private static DateTimeOffset ParseBound(string name, string text, string zone)
    {
        if (text.Length == 10 && DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) && day.Year is >= 1971 and <= 2100)
        {
            return LocalMidnight(day, zone);
        }

        if ((text.EndsWith('Z') || text.EndsWith('z') || (text.Length > 6 && text[^6] is '+' or '-'))
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var instant)
            && instant.Year is >= 1971 and <= 2100)
        {
            return instant.ToUniversalTime();
        }

        throw new BadQueryException(name, "Bad time range",
            $"'{name}' must be a date (2026-01-31, midnight in the query's time zone) or an ISO-8601 instant with an offset (2026-01-31T00:00:00Z), between 1971 and 2100.");
    }
}

/// <summary>A time bucket width for series.</summary>
public enum Interval
{
    Minute,
    Hour,
    Day,
    Week,
}

public static class Intervals
{
    public static Interval Parse(string? text, Interval fallback) => text switch
    {
        null or "" => fallback,
        "minute" => Interval.Minute,
        "hour" => Interval.Hour,
        "day" => Interval.Day,
        "week" => Interval.Week,
        _ => throw new BadQueryException("interval", "Unknown interval", "'interval' must be one of minute, hour, day, week."),
    };

    public static string Name(this Interval interval) => interval.ToString().ToLowerInvariant();

    /// <summary>Refuses ranges that would make more buckets than the limit (a minute series over a year).</summary>
    public static void EnsureBuckets(this Interval interval, TimeRange range, int maxBuckets)
    {
        var width = interval switch
        {
            Interval.Minute => TimeSpan.FromMinutes(1),
            Interval.Hour => TimeSpan.FromHours(1),
            Interval.Day => TimeSpan.FromDays(1),
            _ => TimeSpan.FromDays(7),
        };
        if ((range.To - range.From) / width > maxBuckets)
        {
            throw new BadQueryException("interval", "Too many buckets", $"A series by {interval.Name()} over this range would have more than {maxBuckets} points; use a wider interval or a shorter range.");
        }
    }
}

/// <summary>
/// What events can be broken down or filtered by: a whitelisted event column, a property's value
/// (<c>property.&lt;key&gt;</c>; the key is a value, escaped as a literal, never a name), or a user or
/// account attribute from the tenant's <c>dim_users</c> (<see cref="UserColumns"/>: <c>plan</c>,
/// <c>account</c>, <c>account_seats</c>), joined on user_id by <see cref="TenantSources"/>.
/// </summary>
public sealed record Dimension(string Name, string Expression)
{
    public const string PropertyPrefix = "property.";

    /// <summary>Whether this dimension reads the properties column (a property's value).</summary>
    public bool ReadsProperties => Name.StartsWith(PropertyPrefix, StringComparison.Ordinal);

    /// <summary>Whether this dimension is a user or account attribute, read through the join with dim_users.</summary>
    public bool ReadsUsers => UserColumns.ContainsKey(Name);

    /// <summary>Event columns a breakdown or filter may name.</summary>
    public static readonly IReadOnlyList<string> Columns = ["event_name", "event_type", "country", "device", "os", "app_version", "library", "locale"];

    /// <summary>
    /// User and account dimensions: the name a query uses, and the column <see cref="TenantSources"/>
    /// joins onto events from the user's dim_users row (as text; '' for an event without one).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> UserColumns = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["plan"] = "dim_plan",
        ["account"] = "dim_account",
        ["account_seats"] = "dim_account_seats",
    };

    /// <summary>Whether any of a query's filters or its breakdown needs the user dimensions joined.</summary>
    public static bool AnyReadsUsers(IEnumerable<EventFilter> filters, Dimension? breakdown) =>
        breakdown?.ReadsUsers == true || filters.Any(f => f.Dimension.ReadsUsers);

    public static Dimension Parse(string parameter, string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            throw new BadQueryException(parameter, "Unknown dimension", DimensionRule);
        }

        if (Columns.Contains(text, StringComparer.Ordinal))
        {
            return new Dimension(text, Platform.ClickHouse.ClickHouseSql.Identifier(text));
        }

        if (UserColumns.TryGetValue(text, out var column))
        {
            return new Dimension(text, Platform.ClickHouse.ClickHouseSql.Identifier(column));
        }

        if (text.StartsWith(PropertyPrefix, StringComparison.Ordinal) && text.Length > PropertyPrefix.Length && text.Length <= PropertyPrefix.Length + 128
            && !text.Any(char.IsControl))
        {
            return new Dimension(text, MetricsSql.PropertyValue(text[PropertyPrefix.Length..]));
        }

        throw new BadQueryException(parameter, "Unknown dimension", DimensionRule);
    }

    public static readonly string DimensionRule =
        $"A dimension is one of {string.Join(", ", Columns)}, a user or account dimension ({string.Join(", ", UserColumns.Keys)}), or property.<key> for an event property (key 1-128 characters).";
}

/// <summary>A filter on events: <c>dimension:op:value</c>, op one of eq, neq, in, nin (values split by |), contains.</summary>
public sealed record EventFilter(Dimension Dimension, string Operator, IReadOnlyList<string> Values)
{
    public static readonly IReadOnlyList<string> Operators = ["eq", "neq", "in", "nin", "contains"];

    public static EventFilter Parse(string parameter, string text)
    {
        var parts = text.Split(':', 3);
        if (parts.Length != 3 || !Operators.Contains(parts[1], StringComparer.Ordinal))
        {
            throw new BadQueryException(parameter, "Bad filter", $"A filter is dimension:op:value with op one of {string.Join(", ", Operators)}, e.g. country:eq:DE or os:in:iOS|Android.");
        }

        return Create(parameter, parts[0], parts[1], parts[1] is "in" or "nin" ? parts[2].Split('|') : [parts[2]]);
    }

    public static EventFilter Create(string parameter, string dimension, string op, IReadOnlyList<string> values)
    {
        if (!Operators.Contains(op, StringComparer.Ordinal))
        {
            throw new BadQueryException(parameter, "Bad filter", $"A filter's op is one of {string.Join(", ", Operators)}.");
        }

        if (values.Count is 0 or > 100 || values.Any(v => v is null || v.Length > 512))
        {
            throw new BadQueryException(parameter, "Bad filter", "A filter has 1-100 values of at most 512 characters each.");
        }

        return new EventFilter(Dimension.Parse(parameter, dimension), op, values);
    }

    /// <summary>The filter as a predicate over event columns; every value is an escaped literal.</summary>
    public string Sql => Operator switch
    {
        "eq" => $"{Dimension.Expression} = {MetricsSql.Str(Values[0])}",
        "neq" => $"{Dimension.Expression} != {MetricsSql.Str(Values[0])}",
        "in" => $"{Dimension.Expression} IN ({MetricsSql.StrList(Values)})",
        "nin" => $"{Dimension.Expression} NOT IN ({MetricsSql.StrList(Values)})",
        _ => $"positionCaseInsensitiveUTF8({Dimension.Expression}, {MetricsSql.Str(Values[0])}) > 0",
    };
}

/// <summary>Event names in a query: 1-128 characters, values (escaped), never names.</summary>
public static class EventNames
{
    public static string Validate(string parameter, string? name) =>
        name is { Length: > 0 and <= 128 } && !name.Any(char.IsControl)
            ? name
            : throw new BadQueryException(parameter, "Bad event name", $"'{parameter}' must be an event name of 1-128 characters.");
}
