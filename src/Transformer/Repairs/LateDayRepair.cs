using System.Globalization;
using System.Text.Json.Serialization;
using Platform.ClickHouse;
using Transformer.Models;

namespace Transformer.Repairs;

/// <summary>
/// Reads what <see cref="LateDayPlanner"/> decides from: raw_event_days (each event day's newest insert, kept by the
/// Ingestor's materialized view) within <see cref="LateDayRepairOptions.Horizon"/>, and the incremental builds
/// recorded since the oldest of those inserts.
/// </summary>
public sealed class LateDayRepair(ClickHouseClient client, ModelProject project, LateDayRepairOptions options)
{
    /// <summary>
    /// Rows stamped this long before a build may still have been invisible to it: inserted_at is the Ingestor's
    /// clock before its insert commits, started_at the Transformer's (the Api allows the same).
    /// </summary>
    public static readonly TimeSpan ClockMargin = TimeSpan.FromSeconds(10);

    /// <summary>The planner over the current records; null when nothing was inserted within the horizon or raw_event_days does not exist.</summary>
    public async Task<LateDayPlanner?> PlanAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var since = (now - options.Horizon).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        IReadOnlyList<RawDayRow> days;
        try
        {
            days = await client.QueryAsync(
                $"""
                SELECT toString(event_date) AS day, toUInt32(max(last_inserted_at)) AS last_inserted
                FROM raw_event_days
                GROUP BY event_date
                HAVING last_inserted >= {since}
                """, RepairJsonContext.Default.RawDayRow, cancellationToken: cancellationToken);
        }
        catch (ClickHouseServerException ex) when (ex.Code == ClickHouseErrorCodes.UnknownTable)
        {
            return null; // an Ingestor from before raw_event_days: nothing to go by
        }

        if (days.Count == 0)
        {
            return null;
        }

        var incremental = project.Models.Where(m => m.Config.Materialized == Materialization.Incremental).Select(m => m.Name).ToList();
        var builds = await client.QueryAsync(
            $"""
            SELECT model, toUInt32(started_at) AS started_at, toUInt32(finished_at) AS finished_at,
                   toUInt32(window_start) AS window_start, toUInt32(window_end) AS window_end
            FROM transform_runs
            WHERE status = 'succeeded' AND model IN ({string.Join(", ", incremental.Select(ClickHouseSql.Literal))})
              AND started_at >= toDateTime({days.Min(d => d.LastInserted).ToString(CultureInfo.InvariantCulture)})
            """, RepairJsonContext.Default.BuildRow, cancellationToken: cancellationToken);

        return new LateDayPlanner(project,
            days.Select(d => new RawDay(Day(d.Day), DateTimeOffset.FromUnixTimeSeconds(d.LastInserted))).ToList(),
            builds.Select(b => new DayBuild(b.Model, DateTimeOffset.FromUnixTimeSeconds(b.StartedAt), DateTimeOffset.FromUnixTimeSeconds(b.FinishedAt),
                UnixDay(b.WindowStart), UnixDay(b.WindowEnd))).ToList(),
            ClockMargin, now);
    }

    /// <summary>Days as runs of consecutive days, each (first, last inclusive), in order.</summary>
    public static IEnumerable<(DateOnly First, DateOnly Last)> Ranges(IEnumerable<DateOnly> days)
    {
        DateOnly? first = null;
        DateOnly last = default;
        foreach (var day in days.Order())
        {
            if (first is not null && day == last.AddDays(1))
            {
                last = day;
                continue;
            }

            if (first is { } done)
            {
                yield return (done, last);
            }

            first = last = day;
        }

        if (first is { } end)
        {
            yield return (end, last);
        }
    }

    private static DateOnly Day(string text) => DateOnly.ParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture);

    // Seconds, not toString(toDate()): 18.16 prints the epoch's Date (an all-time build's window start) as 0000-00-00.
    private static DateOnly UnixDay(long seconds) => DateOnly.FromDateTime(DateTimeOffset.FromUnixTimeSeconds(seconds).UtcDateTime);

    internal sealed record RawDayRow(string Day, long LastInserted);

    internal sealed record BuildRow(string Model, long StartedAt, long FinishedAt, long WindowStart, long WindowEnd);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(LateDayRepair.RawDayRow))]
[JsonSerializable(typeof(LateDayRepair.BuildRow))]
internal sealed partial class RepairJsonContext : JsonSerializerContext;
