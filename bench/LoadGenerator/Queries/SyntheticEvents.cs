using System.Diagnostics;
using Platform.ClickHouse;

namespace LoadGenerator.Queries;

/// <summary>
/// Generates events inside ClickHouse (<c>INSERT INTO raw_events ... SELECT ... FROM numbers()</c>):
/// millions of rows a minute, where the Collector would take hours. Each row is a function of its number:
/// tenant round-robin, a user of that tenant (a third anonymous), a time uniform over the days, a name
/// from a weighted mix (page views on a few paths incl. /signup; signup_started, signup_submitted,
/// signup_completed; feature_used with a feature property; search, add_to_cart, checkout, purchase),
/// 20 sessions per user (half an hour each), and the user's country, device, os and app version. A
/// signed-in user's sessions are spread over all the days; an anonymous one (a visitor) comes on one
/// day, uniform over the days, and has its sessions within two days of it. So every day has new
/// actors (recent retention cohorts are not empty) while the events stay uniform over the days.
/// received_at and inserted_at are a second and two after the event's time, as if it had been sent
/// live: rows with an inserted_at far after their time would count as late and keep the Api off the rollups.
/// </summary>
public sealed class SyntheticEvents(ClickHouseClient clickHouse, IReadOnlyList<string> tenantIds, long usersPerTenant)
{
    private const long ChunkRows = 2_000_000;

    /// <summary>Each user has this many sessions; an event falls in one of them, within its half hour.</summary>
    private const int SessionsPerUser = 20;

    private const int SessionSeconds = 1800;

    /// <summary>A visitor's sessions fall within this time of its first day.</summary>
    private const long VisitSeconds = 2 * 86400;

    // JSON pieces for the properties column (braces cannot be written into the interpolated SQL itself).
    private const string PathJson = "{\"path\":\"";
    private const string FeatureJson = "{\"feature\":\"";
    private const string JsonEnd = "\"}";
    private const string EmptyJson = "{}";

    public static readonly string[] FunnelSteps = ["signup_started", "signup_submitted", "signup_completed"];

    /// <summary>
    /// Loads <paramref name="events"/> rows with times in [from, to). <paramref name="imported"/>: received and inserted now,
    /// as a history sent at once (an import), rather than a second and two after their time.
    /// </summary>
    public async Task<TimeSpan> LoadAsync(long events, DateTimeOffset from, DateTimeOffset to, TextWriter log, CancellationToken cancellationToken, bool imported = false)
    {
        var started = Stopwatch.StartNew();
        for (long offset = 0; offset < events; offset += ChunkRows)
        {
            var count = Math.Min(ChunkRows, events - offset);
            await clickHouse.ExecuteAsync(InsertSql(offset, count, from, to, imported), new ClickHouseQueryOptions { MaxExecutionTime = TimeSpan.FromMinutes(30) }, cancellationToken);
            log.WriteLine($"  {offset + count:N0} of {events:N0} rows ({started.Elapsed.TotalSeconds:0} s)");
        }

        return started.Elapsed;
    }

    private string InsertSql(long offset, long count, DateTimeOffset from, DateTimeOffset to, bool imported)
    {
        var arrival = imported ? "now(), now()" : "t + 1, t + 2";
        var span = Math.Max(1, to.ToUnixTimeSeconds() - from.ToUnixTimeSeconds() - SessionSeconds);
        var visit = Math.Min(VisitSeconds, span);
        var tenants = $"[{ClickHouseSql.List(tenantIds)}]";
        // Inner names differ from raw_events' columns: 18.16 substitutes an alias into expressions naming a same-named column.
        return $"""
            INSERT INTO {ClickHouseSql.Table(clickHouse.Settings.Database, "raw_events")}
                (tenant_id, event_id, event_type, event_name, user_id, anonymous_id, session_id, event_time, received_at, inserted_at,
                 properties, context, country, device, os, app_version, library, locale, timezone, page)
            SELECT
                arrayElement({tenants}, toUInt32(n % {tenantIds.Count}) + 1),
                concat('q', toString(n)),
                if(kind < 40, 'page', 'track'),
                multiIf(kind < 40, 'page_view', kind < 52, 'button_clicked', kind < 62, 'feature_used', kind < 70, 'search', kind < 76, 'add_to_cart',
                        kind < 82, 'signup_started', kind < 87, 'signup_submitted', kind < 91, 'signup_completed', kind < 96, 'checkout_started', 'purchase'),
                if(usr % 3 = 0, '', concat('user-', toString(usr))),
                concat('anon-', toString(usr)),
                concat('sess-', toString(usr), '-', toString(sess)),
                t, {arrival},
                multiIf(kind < 40, concat('{PathJson}', path, '{JsonEnd}'), kind < 62 AND kind >= 52, concat('{FeatureJson}', arrayElement(['export_csv', 'funnel_builder', 'retention_chart', 'dark_mode', 'alerts'], toUInt32(h % 5) + 1), '{JsonEnd}'), '{EmptyJson}'),
                '{EmptyJson}',
                arrayElement(['US', 'US', 'DE', 'GB', 'FR', 'JP', 'BR', 'IN', 'ES', 'CA'], toUInt32(profile % 10) + 1),
                arrayElement(['desktop', 'desktop', 'mobile', 'mobile', 'tablet'], toUInt32(intDiv(profile, 10) % 5) + 1),
                arrayElement(['Windows', 'macOS', 'iOS', 'Android', 'Linux'], toUInt32(intDiv(profile, 50) % 5) + 1),
                arrayElement(['1.0.0', '1.1.0', '1.2.0', '2.0.0'], toUInt32(intDiv(profile, 250) % 4) + 1),
                'analytics.js', 'en-US', 'UTC',
                if(kind < 40, path, '')
            FROM
            (
                SELECT number AS n, intHash64(number) AS h, h % 100 AS kind,
                       intHash32(number) % {usersPerTenant} AS usr, intHash32(usr + 7919) AS profile,
                       intHash32(number + 17) % {SessionsPerUser} AS sess,
                       if(usr % 3 = 0, intHash32(usr + 104729) % {span - visit + 1} + intHash64(usr * {SessionsPerUser} + sess) % {visit},
                          intHash64(usr * {SessionsPerUser} + sess) % {span}) AS session_offset,
                       toDateTime({from.ToUnixTimeSeconds()} + session_offset + intHash32(number + 29) % {SessionSeconds}, 'UTC') AS t,
                       arrayElement(['/', '/pricing', '/signup', '/docs/getting-started', '/app/dashboard', '/app/reports', '/blog'], toUInt32(intDiv(h, 100) % 7) + 1) AS path
                FROM numbers({offset}, {count})
            )
            """;
    }
}
