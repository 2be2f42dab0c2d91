using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Api.Querying;

namespace Api.Metrics;

/// <summary>
/// A paging position in a timeline: the (time, event id) of the last event of the previous page.
/// Sent as an opaque base64url token of "unixSeconds:eventId".
/// </summary>
public sealed record TimelineCursor(long UnixSeconds, string EventId)
{
    public string Token => Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{UnixSeconds.ToString(CultureInfo.InvariantCulture)}:{EventId}"));

    public static TimelineCursor Parse(string parameter, string token)
    {
        var bad = new BadQueryException(parameter, "Bad cursor", $"'{parameter}' must be the 'nextBefore' token of a previous page.");
        if (token.Length > 400)
        {
            throw bad;
        }

        string text;
        try
        {
            text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
        }
        catch (FormatException)
        {
            throw bad;
        }

        var colon = text.IndexOf(':');
        return colon > 0 && long.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
               && seconds is > 0 and < 4_200_000_000 && text.Length - colon - 1 is > 0 and <= 128 && !text.Skip(colon + 1).Any(char.IsControl)
            ? new TimelineCursor(seconds, text[(colon + 1)..])
            : throw bad;
    }
}

/// <summary>One person's events, newest first: <see cref="Limit"/> of them in [Range.From, Range.To), before <see cref="Before"/> when paging.</summary>
public sealed record TimelineRequest(string UserId, TimeRange Range, int Limit, TimelineCursor? Before);

public sealed record TimelineEvent(
    string Id, string Type, string Name, DateTimeOffset Time, string UserId, string AnonymousId, string SessionId,
    string Country, string Device, string Os, string AppVersion, string Page, JsonNode? Properties);

public sealed record TimelineResponse(string UserId, DateTimeOffset From, DateTimeOffset To, IReadOnlyList<TimelineEvent> Events, string? NextBefore);

/// <summary>
/// The user timeline: events whose user_id or anonymous_id is the given id, ordered by
/// (event_time, event_id) descending. A page asks one more row than it returns to know whether
/// there is a next one; the cursor is the last returned (time, id), so pages never overlap or skip.
/// </summary>
public sealed class TimelineQuery(TenantSources sources, MetricsQueryRunner runner)
{
    public const int MaxUserIdLength = 256;
    public const int MaxLimit = 1000;

    public async Task<TimelineResponse> RunAsync(TenantScope scope, TimelineRequest request, CancellationToken cancellationToken)
    {
        var range = request.Range;
        var to = range.To;
        var paging = "";
        if (request.Before is { } cursor)
        {
            // Nothing at or after the cursor's second is wanted except its ties: read up to the next second.
            var cursorEnd = DateTimeOffset.FromUnixTimeSeconds(cursor.UnixSeconds + 1);
            to = cursorEnd < to ? cursorEnd : to;
            paging = $"(toUInt32(event_time), event_id) < ({MetricsSql.Int(cursor.UnixSeconds)}, {MetricsSql.Str(cursor.EventId)})";
        }

        if (range.From >= to)
        {
            return new TimelineResponse(request.UserId, range.From, range.To, [], null);
        }

        var events = await sources.EventsAsync(scope, range.From, to, null, rawOnly: false, cancellationToken);
        var user = MetricsSql.Str(request.UserId);
        var sql = $"""
            SELECT event_id, event_type, event_name, toUInt32(event_time) AS event_seconds, user_id, anonymous_id, session_id,
                   country, device, os, app_version, page, properties
            FROM {events.Sql}
            WHERE {MetricsSql.And([$"user_id = {user} OR anonymous_id = {user}", paging])}
            ORDER BY event_time DESC, event_id DESC
            LIMIT {MetricsSql.Int(request.Limit + 1)}
            """;
        var rows = await runner.QueryAsync(sql, TimelineJsonContext.Default.TimelineRow, cancellationToken);
        var shown = rows.Take(request.Limit).Select(r => new TimelineEvent(
            r.EventId, r.EventType, r.EventName, DateTimeOffset.FromUnixTimeSeconds(r.EventSeconds), r.UserId, r.AnonymousId, r.SessionId,
            r.Country, r.Device, r.Os, r.AppVersion, r.Page, Properties(r.Properties))).ToList();
        var next = rows.Count > request.Limit ? new TimelineCursor(rows[request.Limit - 1].EventSeconds, rows[request.Limit - 1].EventId).Token : null;
        return new TimelineResponse(request.UserId, range.From, range.To, shown, next);
    }

    /// <summary>The stored properties string as a JSON object; {} when empty, the text itself if it were ever not JSON.</summary>
    private static JsonNode? Properties(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return new JsonObject();
        }

        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return JsonValue.Create(text);
        }
    }

    public sealed record TimelineRow(
        string EventId, string EventType, string EventName, long EventSeconds, string UserId, string AnonymousId, string SessionId,
        string Country, string Device, string Os, string AppVersion, string Page, string Properties);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(TimelineQuery.TimelineRow))]
internal sealed partial class TimelineJsonContext : JsonSerializerContext;
