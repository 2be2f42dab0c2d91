using System.Net;
using System.Text.RegularExpressions;

namespace Platform.ClickHouse;

/// <summary>An error the ClickHouse server answered, with its numeric code (62 syntax, 60 unknown table, ...).</summary>
public sealed partial class ClickHouseServerException(int code, string message, HttpStatusCode statusCode)
    : Exception(message)
{
    public int Code { get; } = code;

    public HttpStatusCode StatusCode { get; } = statusCode;

    /// <summary>Error codes that describe the query, not the server's state: retrying cannot help.</summary>
    public bool IsQueryError => Code is 47 or 60 or 62 or 81 or 36 or 43 or 53 or 386 or 27 or 26 or 117;

    internal static ClickHouseServerException FromResponse(HttpStatusCode status, string body)
    {
        var match = CodePattern().Match(body);
        var code = match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        var text = body.Trim();
        if (text.Length > 2000)
        {
            text = text[..2000] + "...";
        }

        return new ClickHouseServerException(code, $"ClickHouse error {code}: {text}", status);
    }

    [GeneratedRegex(@"Code:\s*(\d+)")]
    private static partial Regex CodePattern();
}
