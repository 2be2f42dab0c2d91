using System.Globalization;
using Api.Metrics;
using Api.Querying;

namespace Api.Grafana;

/// <summary>The product metrics' handlers: active users, funnel, retention, session lengths, feature adoption.</summary>
public static partial class GrafanaCatalogue
{
    private const int MaxRetentionPeriods = 90;

    /// <summary>
    /// DAU/WAU/MAU: one series per window (window=all: dau, wau and mau) and breakdown value, a point at
    /// each local day's midnight; as a table, one row per day (and breakdown value) with a column per window.
    /// </summary>
    private static async Task<IReadOnlyList<object>> ActiveUsersAsync(GrafanaTargetContext target)
    {
        var windows = target.Payload.One("window") is { } one && one != "all" ? [one] : new[] { "dau", "wau", "mau" };
        var request = new ActiveUsersRequest(target.Range, target.Filters, target.Dimension("breakdown"), QuerySource.Auto);
        var response = await target.Service<ActiveUsersQuery>().RunAsync(target.Scope, request, target.CancellationToken);
        var zone = response.TimeZone;

        static long Value(ActiveUsersDay day, string window) => window switch { "dau" => day.Dau, "wau" => day.Wau, _ => day.Mau };

        if (target.AsTable)
        {
            var columns = new List<GrafanaColumn> { GrafanaFrames.Time("day") };
            if (request.Breakdown is not null)
            {
                columns.Add(GrafanaFrames.Text(request.Breakdown.Name));
            }

            columns.AddRange(windows.Select(GrafanaFrames.Number));
            var rows = response.Series.SelectMany(s => s.Days.Select(d =>
                new object?[] { TimeRange.LocalMidnight(d.Date, zone).ToUnixTimeMilliseconds() }
                    .Concat(request.Breakdown is null ? [] : [Label(s.Breakdown)])
                    .Concat(windows.Select(w => (object?)Value(d, w))).ToArray()));
            return [GrafanaFrames.Table(columns, rows.OrderBy(r => (long)r[0]!))];
        }

        return response.Series.SelectMany(s => windows.Select(w => (object)GrafanaFrames.Series(
            request.Breakdown is null ? w : $"{w} {Label(s.Breakdown)}",
            s.Days.Select(d => (TimeRange.LocalMidnight(d.Date, zone), (double)Value(d, w)))))).ToList();
    }

    /// <summary>
    /// An ordered funnel over entries in the range: always a table (a funnel has no time axis), one row per
    /// step; with a breakdown, the overall rows as "(all)" then each value's. Ad-hoc filters apply to every step.
    /// </summary>
    private static async Task<IReadOnlyList<object>> FunnelAsync(GrafanaTargetContext target)
    {
        var names = target.Payload.All("steps");
        var maxSteps = target.Metrics.Options.Value.MaxFunnelSteps;
        if (names.Count < 2 || names.Count > maxSteps)
        {
            throw new BadQueryException("payload.steps", "Bad steps", $"A funnel has 2-{maxSteps} steps (event names, in order).");
        }

        var window = target.Payload.One("window") ?? "1d";
        var request = new FunnelRequest(
            target.Range,
            FunnelWindows[window],
            names.Select(n => new FunnelStep(EventNames.Validate("payload.steps", n), target.Filters)).ToList(),
            target.Dimension("breakdown"),
            QuerySource.Auto);
        var response = await target.Service<FunnelQuery>().RunAsync(target.Scope, request, target.CancellationToken);

        var columns = new List<GrafanaColumn>();
        if (request.Breakdown is not null)
        {
            columns.Add(GrafanaFrames.Text(request.Breakdown.Name));
        }

        columns.AddRange([
            GrafanaFrames.Number("step"), GrafanaFrames.Text("event"), GrafanaFrames.Number("count"),
            GrafanaFrames.Number("conversion from first"), GrafanaFrames.Number("conversion from previous"), GrafanaFrames.Number("median seconds from previous"),
        ]);
        IEnumerable<object?[]> Rows(string? value, IReadOnlyList<FunnelStepResult> steps) => steps.Select(s =>
            (request.Breakdown is null ? Array.Empty<object?>() : [value])
                .Concat([s.Step, s.Event, s.Count, s.ConversionFromFirst, s.ConversionFromPrevious, s.MedianSecondsFromPrevious]).ToArray());

        var rows = Rows("(all)", response.Steps).Concat((response.Breakdowns ?? []).SelectMany(b => Rows(Label(b.Value), b.Steps)));
        return [GrafanaFrames.Table(columns, rows)];
    }

    /// <summary>
    /// Cohort retention: as a table, one row per cohort (its start, size, then the percentage retained in
    /// each period; null for periods that have not begun); as time series, one series per period over the cohort starts.
    /// </summary>
    private static async Task<IReadOnlyList<object>> RetentionAsync(GrafanaTargetContext target)
    {
        var periodsText = target.Payload.One("periods");
        var periods = 8;
        if (periodsText is not null && !(int.TryParse(periodsText, NumberStyles.None, CultureInfo.InvariantCulture, out periods) && periods is >= 1 and <= MaxRetentionPeriods))
        {
            throw new BadQueryException("payload.periods", "Bad periods", $"'periods' must be a whole number 1-{MaxRetentionPeriods}.");
        }

        var request = new RetentionRequest(
            target.Range,
            target.Payload.One("grain") == "week" ? RetentionGrain.Week : RetentionGrain.Day,
            periods,
            target.Payload.One("cohort_event") is { } cohort ? EventNames.Validate("payload.cohort_event", cohort) : null,
            target.Payload.One("return_event") is { } back ? EventNames.Validate("payload.return_event", back) : null,
            QuerySource.Auto);
        var response = await target.Service<RetentionQuery>().RunAsync(target.Scope, request, target.CancellationToken);
        long Start(RetentionCohort c) => TimeRange.LocalMidnight(c.Cohort, response.TimeZone).ToUnixTimeMilliseconds();

        if (target.AsTable)
        {
            var columns = new List<GrafanaColumn> { GrafanaFrames.Time("cohort"), GrafanaFrames.Number("size") };
            columns.AddRange(Enumerable.Range(0, periods).Select(p => GrafanaFrames.Number($"{response.Grain} {p}")));
            return [GrafanaFrames.Table(columns, response.Cohorts.Select(c =>
                new object?[] { Start(c), c.Size }.Concat(Enumerable.Range(0, periods).Select(p => (object?)c.Periods.FirstOrDefault(x => x.Period == p)?.Percentage)).ToArray()))];
        }

        return Enumerable.Range(0, periods).Select(p => (object)GrafanaFrames.Series($"{response.Grain} {p}",
            response.Cohorts.Where(c => c.Periods.Any(x => x.Period == p))
                .Select(c => (TimeRange.LocalMidnight(c.Cohort, response.TimeZone), c.Periods.First(x => x.Period == p).Percentage)))).ToList();
    }

    /// <summary>
    /// The session duration histogram: always a table (buckets are not times), one row per bucket
    /// ("10-30 s") with its sessions, and with a breakdown a column per country or device.
    /// </summary>
    private static async Task<IReadOnlyList<object>> SessionLengthsAsync(GrafanaTargetContext target)
    {
        var breakdown = target.Payload.One("breakdown") switch
        {
            "country" => SessionBreakdown.Country,
            "device" => SessionBreakdown.Device,
            _ => SessionBreakdown.None,
        };
        var response = await target.Service<SessionsQuery>().RunAsync(target.Scope, new SessionsRequest(target.Range, breakdown), target.CancellationToken);

        var columns = new List<GrafanaColumn> { GrafanaFrames.Text("duration"), GrafanaFrames.Number("sessions") };
        var values = response.Values ?? [];
        columns.AddRange(values.Select(v => GrafanaFrames.Number(Label(v.Value))));
        var rows = response.Histogram.Select((bin, i) =>
            new object?[] { BinLabel(bin), bin.Sessions }.Concat(values.Select(v => (object?)v.Histogram[i].Sessions)).ToArray());
        return [GrafanaFrames.Table(columns, rows)];
    }

    internal static string BinLabel(DurationBin bin) => bin.ToSeconds is { } to ? $"{bin.FromSeconds}-{to} s" : $"{bin.FromSeconds}+ s";

    /// <summary>
    /// Adoption of one feature by weekly cohorts of new actors: as a table, one row per cohort week
    /// (week, cohort users, adopters, rate 0-1); as time series, the rate at each week's Monday.
    /// </summary>
    private static async Task<IReadOnlyList<object>> FeatureAdoptionAsync(GrafanaTargetContext target)
    {
        var feature = target.Payload.One("feature")
            ?? throw new BadQueryException("payload.feature", "Missing feature", "'feature' (an event name) is required.");
        var request = new FeatureAdoptionRequest(EventNames.Validate("payload.feature", feature), target.Range, QuerySource.Auto);
        var response = await target.Service<FeatureAdoptionQuery>().RunAsync(target.Scope, request, target.CancellationToken);

        if (target.AsTable)
        {
            return [GrafanaFrames.Table(
                [GrafanaFrames.Time("week"), GrafanaFrames.Number("cohort users"), GrafanaFrames.Number("adopters"), GrafanaFrames.Number("rate")],
                response.Cohorts.Select(c => new object?[] { TimeRange.LocalMidnight(c.Week, response.TimeZone).ToUnixTimeMilliseconds(), c.CohortUsers, c.Adopters, c.AdoptionRate }))];
        }

        return [GrafanaFrames.Series(response.Feature, response.Cohorts.Select(c => (TimeRange.LocalMidnight(c.Week, response.TimeZone), c.AdoptionRate)))];
    }
}
