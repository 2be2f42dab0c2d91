using System.Globalization;
using System.Text;
using Platform.ClickHouse;

namespace LoadGenerator.Queries;

/// <summary>A target latency: the 95th percentile must stay under <see cref="P95Ms"/>.</summary>
public sealed record QueryTarget(string Label, double P95Ms);

/// <summary>
/// One question: the Api request that asks it, and the straightforward SQL over raw_events that a
/// platform without models or rollups would run for it (no dedupe, no rollups), for comparison.
/// </summary>
public sealed record QueryCase(
    string Endpoint, string Path, Func<HttpRequestMessage> Request, Func<string, string> Sql, QueryTarget? Target);

/// <summary>
/// The questions measured: the last 30 whole UTC days. Endpoints other engineers are writing may not
/// exist in the build under test; a 404 skips them with a note. Adjust a request here when an
/// endpoint's parameters differ.
/// </summary>
public static class QueryCases
{
    private static readonly QueryTarget Rollup = new("rollup p95 < 20 ms", 20);
    private static readonly QueryTarget Heavy = new("30-day p95 < 300 ms", 300);

    public static IReadOnlyList<QueryCase> For(string database, DateTimeOffset to)
    {
        var from = to.AddDays(-30);
        var range = $"from={Iso(from)}&to={Iso(to)}&tz=UTC";
        var raw = ClickHouseSql.Table(database, "raw_events");
        string Where(string tenant) =>
            $"tenant_id = {ClickHouseSql.Literal(tenant)} AND event_time >= {ClickHouseSql.Literal(from)} AND event_time < {ClickHouseSql.Literal(to)}";
        const string actor = "if(user_id != '', user_id, anonymous_id)";
        var steps = SyntheticEvents.FunnelSteps;

        return
        [
            new("trends count", "rollup (source=auto)", () => Get($"/v1/trends?{range}&interval=day&source=auto"),
                t => $"SELECT toDate(event_time) AS d, count() FROM {raw} WHERE {Where(t)} GROUP BY d ORDER BY d", Rollup),
            new("trends count", "raw (source=raw)", () => Get($"/v1/trends?{range}&interval=day&source=raw"),
                t => $"SELECT toDate(event_time) AS d, count() FROM {raw} WHERE {Where(t)} GROUP BY d ORDER BY d", null),
            new("trends users", "rollup (source=auto)", () => Get($"/v1/trends?{range}&interval=day&measure=users&source=auto"),
                t => $"SELECT toDate(event_time) AS d, uniqExact({actor}) FROM {raw} WHERE {Where(t)} GROUP BY d ORDER BY d", Rollup),
            new("active users", "rollup (source=auto)", () => Get($"/v1/active-users?{range}"),
                t => ActiveUsersSql(raw, t, from, to), Rollup),
            new("active users", "raw (source=raw)", () => Get($"/v1/active-users?{range}&source=raw"),
                t => ActiveUsersSql(raw, t, from, to), null),
            new("funnels (3 steps)", "events", () => Post("/v1/funnels",
                    $$"""{"steps":[{{StepList(steps)}}],"windowSeconds":604800,"from":"{{Iso(from)}}","to":"{{Iso(to)}}","tz":"UTC"}"""),
                t => $"""
                    SELECT level, count() FROM
                    (
                        SELECT windowFunnel(604800)(event_time, {string.Join(", ", steps.Select(s => $"event_name = {ClickHouseSql.Literal(s)}"))}) AS level
                        FROM {raw} WHERE {Where(t)} AND event_name IN ({ClickHouseSql.List(steps)})
                        GROUP BY {actor}
                    )
                    GROUP BY level ORDER BY level
                    """, Heavy),
            new("retention", "events", () => Get($"/v1/retention?{range}&grain=day&periods=8"),
                t => $"""
                    SELECT first_day, active_day - first_day AS day_offset, count() FROM
                    (
                        SELECT arrayReduce('min', days) AS first_day, arrayJoin(days) AS active_day
                        FROM (SELECT groupUniqArray(toDate(event_time)) AS days FROM {raw} WHERE {Where(t)} GROUP BY {actor})
                    )
                    GROUP BY first_day, day_offset ORDER BY first_day, day_offset
                    """, Heavy),
            new("sessions", "model + events", () => Get($"/v1/sessions?{range}"),
                t => $"""
                    SELECT count(), avg(length_seconds) FROM
                    (SELECT max(event_time) - min(event_time) AS length_seconds FROM {raw} WHERE {Where(t)} GROUP BY session_id)
                    """, null),
            new("sessions, 90 days", "model + events", () => Get($"/v1/sessions?from={Iso(to.AddDays(-90))}&to={Iso(to)}&tz=UTC"),
                t => $"""
                    SELECT count(), avg(length_seconds) FROM
                    (SELECT max(event_time) - min(event_time) AS length_seconds FROM {raw}
                     WHERE tenant_id = {ClickHouseSql.Literal(t)} AND event_time >= {ClickHouseSql.Literal(to.AddDays(-90))} AND event_time < {ClickHouseSql.Literal(to)} GROUP BY session_id)
                    """, null),
            new("feature adoption", "model", () => Get($"/v1/feature-adoption?{range}&feature=feature_used"),
                t => $"SELECT event_name, uniqExact({actor}) FROM {raw} WHERE {Where(t)} AND event_type = 'track' GROUP BY event_name ORDER BY event_name", null),
            new("pipeline health", "raw + system", () => Get("/v1/pipeline/health"),
                t => $"SELECT max(event_time), max(received_at), max(inserted_at), countIf(received_at >= now() - 300) FROM {raw} WHERE tenant_id = {ClickHouseSql.Literal(t)}", null),
        ];
    }

    /// <summary>DAU, WAU and MAU per day in one pass: each actor-day counted towards the 30 days after it.</summary>
    private static string ActiveUsersSql(string raw, string tenant, DateTimeOffset from, DateTimeOffset to) => $"""
        SELECT d + o AS day, uniqExactIf(a, o = 0), uniqExactIf(a, o < 7), uniqExact(a)
        FROM (SELECT DISTINCT toDate(event_time) AS d, if(user_id != '', user_id, anonymous_id) AS a FROM {raw}
              WHERE tenant_id = {ClickHouseSql.Literal(tenant)} AND event_time >= {ClickHouseSql.Literal(from.AddDays(-29))} AND event_time < {ClickHouseSql.Literal(to)})
        ARRAY JOIN range(30) AS o
        WHERE d + o >= toDate({ClickHouseSql.Literal(from)}) AND d + o < toDate({ClickHouseSql.Literal(to)})
        GROUP BY day ORDER BY day
        """;

    private static string StepList(IEnumerable<string> steps) => string.Join(",", steps.Select(s => "{\"event\":\"" + s + "\"}"));

    private static HttpRequestMessage Get(string path) => new(HttpMethod.Get, path);

    private static HttpRequestMessage Post(string path, string json) =>
        new(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    private static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
