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
    public bool IsQueryError => Code is ClickHouseErrorCodes.UnknownIdentifier or ClickHouseErrorCodes.UnknownTable or ClickHouseErrorCodes.SyntaxError
        or ClickHouseErrorCodes.UnknownDatabase or ClickHouseErrorCodes.BadArguments or ClickHouseErrorCodes.IllegalTypeOfArgument
        or ClickHouseErrorCodes.TypeMismatch or ClickHouseErrorCodes.NoCommonType or ClickHouseErrorCodes.CannotParseInputAssertionFailed
        or ClickHouseErrorCodes.CannotParseQuotedString or ClickHouseErrorCodes.IncorrectData or ClickHouseErrorCodes.Readonly;

    /// <summary>
    /// The server refused the data itself (a value it cannot parse or store, a table rule such as a throwIf column), not the
    /// query or the table: the same rows fail on every retry, while the other rows of their insert would be stored.
    /// </summary>
    public bool IsDataError => Code is ClickHouseErrorCodes.CannotParseText or ClickHouseErrorCodes.CannotParseEscapeSequence
        or ClickHouseErrorCodes.CannotParseQuotedString or ClickHouseErrorCodes.CannotParseInputAssertionFailed
        or ClickHouseErrorCodes.CannotParseDate or ClickHouseErrorCodes.CannotParseDateTime or ClickHouseErrorCodes.ArgumentOutOfBound
        or ClickHouseErrorCodes.CannotConvertType or ClickHouseErrorCodes.CannotParseNumber or ClickHouseErrorCodes.IncorrectData
        or ClickHouseErrorCodes.TooLargeStringSize or ClickHouseErrorCodes.ValueOutOfRangeOfDataType or ClickHouseErrorCodes.ThrowIfValueIsNonZero;

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

/// <summary>The server error codes the platform reacts to (see ClickHouse's ErrorCodes.cpp).</summary>
public static class ClickHouseErrorCodes
{
    public const int CannotParseText = 6;
    public const int CannotParseEscapeSequence = 25;
    public const int CannotParseQuotedString = 26;
    public const int CannotParseInputAssertionFailed = 27;
    public const int BadArguments = 36;
    public const int CannotParseDate = 38;
    public const int CannotParseDateTime = 41;
    public const int IllegalTypeOfArgument = 43;
    public const int UnknownIdentifier = 47;
    public const int TypeMismatch = 53;
    public const int UnknownTable = 60;
    public const int ArgumentOutOfBound = 69;
    public const int CannotConvertType = 70;
    public const int CannotParseNumber = 72;
    public const int SyntaxError = 62;
    public const int UnknownDatabase = 81;
    public const int IncorrectData = 117;
    public const int TooLargeStringSize = 131;
    public const int TimeoutExceeded = 159;
    public const int TooSlow = 160;
    public const int Readonly = 164;
    public const int TooManySimultaneousQueries = 202;
    public const int ValueOutOfRangeOfDataType = 321;
    public const int NoCommonType = 386;
    public const int ThrowIfValueIsNonZero = 395;
}
