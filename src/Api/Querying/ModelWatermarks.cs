using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;

namespace Api.Querying;

/// <summary>
/// How far a model's data reaches: the start of the staging build its rows came from, and the UTC day before which
/// they are whole. <see cref="Holds"/> says whether the model's days before <see cref="SettledBefore"/> hold an event
/// day's rows inserted at a time: every model day those rows reach was rebuilt, through each step of the chain, by a
/// build that began after they (or the step before) were in; a late-day repair shows as such a build.
/// </summary>
public sealed record ModelWatermark(DateTimeOffset DataAsOf, DateOnly SettledBefore)
{
    public Func<DateOnly, DateTimeOffset, bool> Holds { get; init; } = (_, _) => false;
}

/// <summary>
/// Reads the Transformer's build history to tell, per model, which days it holds completely. A model
/// is only as fresh as the staging build it read: for a chain stg_events -> rollup, the rollup's
/// last successful build read the stg_events build that had finished before it started. The regular
/// builds (whose window reaches the day they ran) set the watermark; late rows are held once the
/// days they reach were rebuilt after them, step by step (the Transformer's late-day repair does that).
/// </summary>
public sealed class ModelWatermarks(ClickHouseClient clickHouse, IOptions<ApiOptions> options, TimeProvider time)
{
    /// <summary>
    /// Each model the Api reads and the chain of incremental models it is built through, each with how far a change on
    /// one day of its input reaches into its own days (reach_days_before/after in the models' headers).
    /// </summary>
    private static readonly IReadOnlyDictionary<string, Step[]> Chains = new Dictionary<string, Step[]>(StringComparer.Ordinal)
    {
        ["stg_events"] = [Staging],
        ["rollup_events_daily"] = [Staging, new("rollup_events_daily")],
        ["rollup_event_names_daily"] = [Staging, new("rollup_event_names_daily")],
        ["rollup_active_users_daily"] = [Staging, new("rollup_active_users_daily")],
        ["actor_first_seen"] = [Staging, new("actor_first_seen")],
        ["active_users"] = [Staging, new("rollup_active_users_daily"), new("active_users", After: 29)],
        ["sessions"] = [Staging, new("sessions", Before: 1, After: 1)],
    };

    private static Step Staging => new("stg_events", After: 1);

    private Snapshot? _snapshot;

    /// <summary>The watermark of a model the Api reads, or null when it has not been built (recently).</summary>
    public async Task<ModelWatermark?> GetAsync(string model, CancellationToken cancellationToken)
    {
        var chain = Chains.TryGetValue(model, out var c) ? c : throw new ArgumentException($"No watermark chain for '{model}'.", nameof(model));
        var snapshot = await SnapshotAsync(cancellationToken);
        if (SourceStart(chain, snapshot.Runs.Where(r => r.Regular).ToList()) is not { } asOf)
        {
            return null;
        }

        var settled = DateOnly.FromDateTime(asOf.UtcDateTime);
        return new ModelWatermark(asOf, settled)
        {
            Holds = (day, inserted) => snapshot.Held.GetOrAdd((model, day, inserted.ToUnixTimeSeconds()), _ => snapshot.Holds(chain, day, inserted, settled)),
        };
    }

    /// <summary>Walks the chain from its last model back: the latest build of each step that finished before the next one started; the first step's start.</summary>
    private static DateTimeOffset? SourceStart(Step[] chain, IReadOnlyList<Run> runs)
    {
        long? bound = null;
        Run? source = null;
        foreach (var step in chain.Reverse())
        {
            source = runs.Where(r => r.Model == step.Model && (bound is null || r.FinishedAt <= bound)).MaxBy(r => r.StartedAt);
            if (source is null)
            {
                return null;
            }

            bound = source.StartedAt;
        }

        return DateTimeOffset.FromUnixTimeSeconds(source!.StartedAt);
    }

    /// <summary>Reads the build history again now (<see cref="QueryMetadataRefresher"/> calls it ahead of requests).</summary>
    public Task RefreshAsync(CancellationToken cancellationToken) => LoadAsync(cancellationToken);

    private async Task<Snapshot> SnapshotAsync(CancellationToken cancellationToken) =>
        _snapshot is { } snapshot && snapshot.Until > time.GetUtcNow() ? snapshot : await LoadAsync(cancellationToken);

    private async Task<Snapshot> LoadAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        IReadOnlyList<Run> runs;
        try
        {
            runs = await clickHouse.QueryAsync(
                $"""
                SELECT model, toUInt32(started_at) AS started_at, toUInt32(finished_at) AS finished_at,
                       toUInt32(toDate(window_start)) AS first_day, toUInt32(toDate(window_end)) AS end_day
                FROM {ClickHouseSql.Table(clickHouse.Settings.Database, "transform_runs")}
                WHERE status = 'succeeded' AND model IN ({ClickHouseSql.List(Chains.Keys)})
                  AND (started_at >= now() - INTERVAL {MetricsSql.Int(LateArrivals.RecentDays)} DAY OR trigger IN ('repair', 'backfill'))
                ORDER BY started_at DESC
                LIMIT 20000
                """,
                WatermarkJsonContext.Default.Run, new ClickHouseQueryOptions { Readonly = true, MaxExecutionTime = TimeSpan.FromSeconds(5) }, cancellationToken);
        }
        catch (ClickHouseServerException ex) when (ex.Code is ClickHouseErrorCodes.UnknownTable)
        {
            runs = []; // No Transformer yet: every answer comes from events.
        }

        var snapshot = new Snapshot(now + options.Value.WatermarkCacheDuration, runs);
        _snapshot = snapshot;
        return snapshot;
    }

    /// <summary>One incremental model of a chain: a change on input day D changes its days D - Before .. D + After.</summary>
    private sealed record Step(string Model, int Before = 0, int After = 0);

    /// <summary>The build history as read, and what was worked out from it (kept as long as it).</summary>
    private sealed class Snapshot(DateTimeOffset until, IReadOnlyList<Run> runs)
    {
        private readonly ILookup<string, Run> _byModel = runs.OrderBy(r => r.StartedAt).ToLookup(r => r.Model, StringComparer.Ordinal);

        public DateTimeOffset Until { get; } = until;

        public IReadOnlyList<Run> Runs { get; } = runs;

        public System.Collections.Concurrent.ConcurrentDictionary<(string Model, DateOnly Day, long Inserted), bool> Held { get; } = new();

        /// <summary>
        /// Whether the chain's last model holds the rows of event day <paramref name="day"/> inserted at <paramref name="inserted"/>:
        /// each step's days they reach (the last step's before <paramref name="settledBefore"/>) were rebuilt by a build that
        /// began after the step before had them (the first step: after the insert, less the clock margin).
        /// </summary>
        public bool Holds(Step[] chain, DateOnly day, DateTimeOffset inserted, DateOnly settledBefore)
        {
            var since = (inserted + LateArrivals.ClockMargin).ToUnixTimeSeconds();
            IEnumerable<DateOnly> days = [day];
            for (var i = 0; i < chain.Length; i++)
            {
                var step = chain[i];
                var reached = days.SelectMany(d => Enumerable.Range(-step.Before, step.Before + step.After + 1).Select(d.AddDays)).Distinct()
                    .Where(d => i < chain.Length - 1 || d < settledBefore).ToList();
                var finished = since;
                foreach (var reachedDay in reached)
                {
                    if (_byModel[step.Model].FirstOrDefault(r => r.StartedAt >= since && r.Covers(reachedDay)) is not { } build)
                    {
                        return false;
                    }

                    finished = Math.Max(finished, build.FinishedAt);
                }

                days = reached;
                since = finished;
            }

            return true;
        }
    }

    /// <param name="FirstDay">The first day the build rebuilt, and <paramref name="EndDay"/> the day after its last, as days since 1970-01-01.</param>
    public sealed record Run(string Model, long StartedAt, long FinishedAt, long FirstDay, long EndDay)
    {
        private static readonly int UnixEpochDay = new DateOnly(1970, 1, 1).DayNumber;

        public bool Covers(DateOnly day) => day.DayNumber - UnixEpochDay >= FirstDay && day.DayNumber - UnixEpochDay < EndDay;

        /// <summary>A build whose window reaches the day it ran (a scheduled incremental build, a table's): not a repair or backfill of past days.</summary>
        public bool Regular => Covers(DateOnly.FromDateTime(DateTimeOffset.FromUnixTimeSeconds(StartedAt).UtcDateTime));
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ModelWatermarks.Run))]
internal sealed partial class WatermarkJsonContext : JsonSerializerContext;
