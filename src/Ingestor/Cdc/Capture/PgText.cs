using System.Globalization;

namespace Ingestor.Cdc.Capture;

/// <summary>PostgreSQL text values as the envelope carries them: as the server wrote them, except timestamptz.</summary>
public static class PgText
{
    private static readonly string[] TimestampTzFormats =
    [
        "yyyy-MM-dd HH:mm:ss.FFFFFFzz", "yyyy-MM-dd HH:mm:ss.FFFFFFzzz", "yyyy-MM-dd HH:mm:sszz", "yyyy-MM-dd HH:mm:sszzz",
    ];

    /// <summary>
    /// timestamptz becomes UTC ISO 8601 with a Z (<c>2026-11-22T04:38:41.123456Z</c>; trailing zeros of the
    /// fraction dropped), whatever the session's TimeZone was. Values outside DateTimeOffset's range or style
    /// (infinity, BC dates, seconds in the offset) stay as PostgreSQL wrote them.
    /// </summary>
    public static string? Normalize(string type, string? text)
    {
        if (text is null || type != "timestamptz")
        {
            return text;
        }

        return DateTimeOffset.TryParseExact(text, TimestampTzFormats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var value)
            ? value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFF'Z'", CultureInfo.InvariantCulture)
            : text;
    }

    public static string Lsn(ulong lsn) => $"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}";
}
