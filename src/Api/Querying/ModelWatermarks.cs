using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;

namespace Api.Querying;

/// <summary>How far a model's data reaches: the start of the staging build its rows came from, and the UTC day before which they are whole.</summary>
public sealed record ModelWatermark(DateTimeOffset DataAsOf, DateOnly SettledBefore);

/// <summary>
/// Reads the Transformer's build history to tell, per model, which days it holds completely. A model
/// is only as fresh as the staging build it read: for a chain stg_events -> rollup, the rollup's
/// last successful build read the stg_events build that had finished before it started.
/// </summary>
public sealed class ModelWatermarks(ClickHouseClient clickHouse, IOptions<ApiOptions> options, TimeProvider time)
{
    private static readonly IReadOnlyDictionary<string, string[]> Chains = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["stg_events"] = ["stg_events"],
        ["rollup_events_daily"] = ["stg_events", "rollup_events_daily"],
        ["rollup_event_names_daily"] = ["stg_events", "rollup_event_names_daily"],
        ["rollup_active_users_daily"] = ["stg_events", "rollup_active_users_daily"],
        ["actor_first_seen"] = ["stg_events", "actor_first_seen"],
        ["active_users"] = ["stg_events", "rollup_active_users_daily", "active_users"],
        ["sessions"] = ["stg_events", "sessions"],
    };

    private (DateTimeOffset Until, IReadOnlyList<Run> Runs)? _snapshot;

    /// <summary>The watermark of a model the Api reads, or null when it has not been built (recently).</summary>
    public async Task<ModelWatermark?> GetAsync(string model, CancellationToken cancellationToken)
    {
        var chain = Chains.TryGetValue(model, out var c) ? c : throw new ArgumentException($"No watermark chain for '{model}'.", nameof(model));
        var runs = await RunsAsync(cancellationToken);
        long? bound = null;
        Run? source = null;
        foreach (var step in chain.Reverse())
        {
            source = runs.Where(r => r.Model == step && (bound is null || r.FinishedAt <= bound)).MaxBy(r => r.StartedAt);
            if (source is null)
            {
                return null;
            }

            bound = source.StartedAt;
        }

        var asOf = DateTimeOffset.FromUnixTimeSeconds(source!.StartedAt);
        return new ModelWatermark(asOf, DateOnly.FromDateTime(asOf.UtcDateTime));
    }

    /// <summary>Reads the build history again now (<see cref="QueryMetadataRefresher"/> calls it ahead of requests).</summary>
    public Task RefreshAsync(CancellationToken cancellationToken) => LoadAsync(cancellationToken);

    private async Task<IReadOnlyList<Run>> RunsAsync(CancellationToken cancellationToken) =>
        _snapshot is { } snapshot && snapshot.Until > time.GetUtcNow() ? snapshot.Runs : await LoadAsync(cancellationToken);

    private async Task<IReadOnlyList<Run>> LoadAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        IReadOnlyList<Run> runs;
        try
        {
            runs = await clickHouse.QueryAsync(
                $"""
                SELECT model, toUInt32(started_at) AS started_at, toUInt32(finished_at) AS finished_at
                FROM {ClickHouseSql.Table(clickHouse.Settings.Database, "transform_runs")}
                WHERE status = 'succeeded' AND model IN ({ClickHouseSql.List(Chains.Keys)}) AND started_at >= now() - INTERVAL 2 DAY
                ORDER BY started_at DESC
                LIMIT 20000
                """,
                WatermarkJsonContext.Default.Run, new ClickHouseQueryOptions { Readonly = true, MaxExecutionTime = TimeSpan.FromSeconds(5) }, cancellationToken);
        }
        catch (ClickHouseServerException ex) when (ex.Code is ClickHouseErrorCodes.UnknownTable)
        {
            runs = []; // No Transformer yet: every answer comes from events.
        }

        _snapshot = (now + options.Value.WatermarkCacheDuration, runs);
        return runs;
    }

    public sealed record Run(string Model, long StartedAt, long FinishedAt);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ModelWatermarks.Run))]
internal sealed partial class WatermarkJsonContext : JsonSerializerContext;
