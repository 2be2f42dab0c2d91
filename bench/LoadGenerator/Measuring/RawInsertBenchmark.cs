using System.Diagnostics;
using System.Text.Json.Serialization;
using LoadGenerator.Events;
using Platform.ClickHouse;

namespace LoadGenerator.Measuring;

public sealed record RawInsertResult(long Rows, int Batches, TimeSpan InsertTime)
{
    public double RowsPerSecond => Rows / InsertTime.TotalSeconds;
}

/// <summary>
/// The ceiling the pipeline is compared with: the same number of rows of the same shape as the
/// Ingestor writes (<c>RawEventRow</c>), inserted straight into a scratch copy of <c>raw_events</c> the
/// way the Ingestor inserts (JSONEachRow, one batch at a time), then dropped. Only the inserts are timed.
/// </summary>
public sealed class RawInsertBenchmark(ClickHouseClient clickHouse, EventIds ids)
{
    public async Task<RawInsertResult> RunAsync(long rows, int batchRows, string tenantId, CancellationToken cancellationToken)
    {
        var table = ClickHouseSql.Table(clickHouse.Settings.Database, $"bench_raw_insert_{ids.RunId}");
        await clickHouse.ExecuteAsync($"CREATE TABLE {table} AS {ClickHouseSql.Table(clickHouse.Settings.Database, "raw_events")}", cancellationToken: cancellationToken);
        try
        {
            // Another seed than the load's templates: same shape and mix, and the rows' ids are new anyway.
            var catalog = new EventCatalog(seed: 7);
            var specs = Enumerable.Range(0, 4096).Select(_ => catalog.Next()).ToArray();
            var batch = new List<RawRow>(batchRows);
            var timed = TimeSpan.Zero;
            var batches = 0;
            for (long done = 0; done < rows; done += batch.Count)
            {
                batch.Clear();
                var now = DateTimeOffset.UtcNow;
                var first = ids.Reserve((int)Math.Min(batchRows, rows - done));
                for (var i = 0; i < Math.Min(batchRows, rows - done); i++)
                {
                    batch.Add(RawRow.From(specs[(done + i) % specs.Length], tenantId, ids.Format(first + i), now));
                }

                var started = Stopwatch.GetTimestamp();
                await clickHouse.InsertAsync(table, batch, RawRowJsonContext.Default.RawRow, cancellationToken);
                timed += Stopwatch.GetElapsedTime(started);
                batches++;
            }

            return new RawInsertResult(rows, batches, timed);
        }
        finally
        {
            await clickHouse.ExecuteAsync($"DROP TABLE IF EXISTS {table}", cancellationToken: CancellationToken.None);
        }
    }
}

/// <summary>A <c>raw_events</c> row as the Ingestor's <c>RawEventRow</c> serialises it (see src/Ingestor/Consumption/RawEventRow.cs).</summary>
public sealed record RawRow(
    string TenantId,
    string EventId,
    string EventType,
    string EventName,
    string EventVersion,
    string UserId,
    string AnonymousId,
    string SessionId,
    long EventTime,
    int EventTimeMs,
    long OriginalTime,
    long SentAt,
    long ReceivedAt,
    string Properties,
    string Context,
    string AppVersion,
    string Os,
    string Device,
    string Locale,
    string Timezone,
    string Country,
    string Library,
    string Page,
    string UserAgent,
    string Traits,
    string PreviousId,
    string GroupId,
    int SchemaVersion)
{
    public static RawRow From(EventSpec e, string tenantId, string eventId, DateTimeOffset now) => new(
        tenantId, eventId, "track", e.Name, "", e.UserId, e.AnonymousId, e.SessionId,
        now.ToUnixTimeSeconds(), (int)(now.ToUnixTimeMilliseconds() % 1000), now.ToUnixTimeSeconds(), 0, now.ToUnixTimeSeconds(),
        e.PropertiesJson, e.ContextJson,
        e.Context.AppVersion, e.Context.Os, e.Context.Device, e.Context.Locale, e.Context.Timezone, e.Context.Country, e.Context.Library, e.Context.Page, e.Context.UserAgent,
        "{}", "", "", 2);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(RawRow))]
internal sealed partial class RawRowJsonContext : JsonSerializerContext;
