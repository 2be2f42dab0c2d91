using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ingestor.Consumption;
using LoadGenerator.Events;
using Platform.ClickHouse;

namespace LoadGenerator.Measuring;

/// <param name="ClientTime">Time in <see cref="ClickHouseClient.InsertAsync{T}"/>, serialisation included: the Ingestor's path.</param>
/// <param name="ServerTime">Time to post the same batches already serialised: what ClickHouse alone takes.</param>
public sealed record RawInsertResult(long Rows, int Batches, long Bytes, TimeSpan ClientTime, TimeSpan ServerTime)
{
    public double RowsPerSecond => Rows / ClientTime.TotalSeconds;

    public double ServerRowsPerSecond => Rows / ServerTime.TotalSeconds;
}

/// <summary>
/// The ceiling the pipeline is compared with: the same number of rows of the same shape as the
/// Ingestor writes (<c>RawEventRow</c>), inserted straight into a scratch copy of <c>raw_events</c> the
/// way the Ingestor inserts (JSONEachRow, one batch at a time), then dropped. Only the inserts are timed.
/// Each batch is also posted once more as ready-made bytes, which separates the client's serialisation
/// cost from the server's.
/// </summary>
public sealed class RawInsertBenchmark(ClickHouseClient clickHouse, HttpClient http, EventIds ids)
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
            var batch = new List<RawEventRow>(batchRows);
            var client = TimeSpan.Zero;
            var server = TimeSpan.Zero;
            long bytes = 0;
            var batches = 0;
            for (long done = 0; done < rows; done += batch.Count)
            {
                batch.Clear();
                var now = DateTimeOffset.UtcNow;
                var first = ids.Reserve((int)Math.Min(batchRows, rows - done));
                for (var i = 0; i < Math.Min(batchRows, rows - done); i++)
                {
                    batch.Add(RawRows.From(specs[(done + i) % specs.Length], tenantId, ids.Format(first + i), now));
                }

                var started = Stopwatch.GetTimestamp();
                await clickHouse.InsertAsync(table, batch, RawEventJsonContext.Default.RawEventRow, cancellationToken);
                client += Stopwatch.GetElapsedTime(started);

                var serialised = Serialise(batch);
                bytes += serialised.Length;
                started = Stopwatch.GetTimestamp();
                await PostAsync(table, serialised, cancellationToken);
                server += Stopwatch.GetElapsedTime(started);
                batches++;
            }

            return new RawInsertResult(rows, batches, bytes, client, server);
        }
        finally
        {
            await clickHouse.ExecuteAsync($"DROP TABLE IF EXISTS {table}", cancellationToken: CancellationToken.None);
        }
    }

    private static byte[] Serialise(List<RawEventRow> rows)
    {
        using var buffer = new MemoryStream(rows.Count * 900);
        foreach (var row in rows)
        {
            JsonSerializer.Serialize(buffer, row, RawEventJsonContext.Default.RawEventRow);
            buffer.WriteByte((byte)'\n');
        }

        return buffer.ToArray();
    }

    private async Task PostAsync(string table, byte[] body, CancellationToken cancellationToken)
    {
        var settings = clickHouse.Settings;
        var query = Uri.EscapeDataString($"INSERT INTO {table} FORMAT JSONEachRow");
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(settings.Endpoint, $"?database={Uri.EscapeDataString(settings.Database)}&query={query}"))
        {
            Content = new ByteArrayContent(body),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{settings.Username}:{settings.Password}")));
        using var response = await http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var error = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new ClickHouseServerException(0, $"The ready-serialised insert failed: {error.Trim()}", response.StatusCode);
        }
    }
}

/// <summary>A generated event as the Ingestor stores it: the Ingestor's own row type, so the insert measured is the one it makes.</summary>
internal static class RawRows
{
    public static RawEventRow From(EventSpec e, string tenantId, string eventId, DateTimeOffset now) => new(
        tenantId, eventId, "track", e.Name, "", e.UserId, e.AnonymousId, e.SessionId,
        now.ToUnixTimeSeconds(), (int)(now.ToUnixTimeMilliseconds() % 1000), now.ToUnixTimeSeconds(), 0, now.ToUnixTimeSeconds(),
        e.PropertiesJson, e.ContextJson,
        e.Context.AppVersion, e.Context.Os, e.Context.Device, e.Context.Locale, e.Context.Timezone, e.Context.Country, e.Context.Library, e.Context.Page, e.Context.UserAgent,
        "{}", "", "", 2, now.ToUnixTimeSeconds());
}
