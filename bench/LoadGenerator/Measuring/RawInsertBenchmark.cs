using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ingestor.Consumption;
using LoadGenerator.Events;
using Platform.ClickHouse;
using Platform.Events;

namespace LoadGenerator.Measuring;

/// <param name="ClientTime">Time in the Ingestor's path: <see cref="RawEventRow.Write"/> into RowBinary and the insert.</param>
/// <param name="ServerTime">Time to post the same RowBinary batches already written: what ClickHouse alone takes.</param>
/// <param name="JsonServerTime">Time to post as many rows as JSONEachRow (the Ingestor's format before RowBinary), ready-made.</param>
public sealed record RawInsertResult(long Rows, int Batches, long Bytes, long JsonBytes, TimeSpan ClientTime, TimeSpan ServerTime, TimeSpan JsonServerTime)
{
    public double RowsPerSecond => Rows / ClientTime.TotalSeconds;

    public double ServerRowsPerSecond => Rows / ServerTime.TotalSeconds;

    public double JsonServerRowsPerSecond => Rows / JsonServerTime.TotalSeconds;
}

/// <summary>
/// The ceiling the pipeline is compared with: as many rows of the same shape as the Ingestor writes, inserted straight into
/// a scratch copy of <c>raw_events</c> the way the Ingestor inserts (<see cref="RawEventRow"/> in RowBinary, one batch at a
/// time), then dropped. Only the inserts are timed. Each batch is posted once more as ready-made bytes, which separates the
/// client's cost from the server's; and the same rows as ClickHouse itself prints them in JSONEachRow go to a second
/// scratch table, which measures what the text format costs the server.
/// </summary>
public sealed class RawInsertBenchmark(ClickHouseClient clickHouse, HttpClient http, EventIds ids)
{
    public async Task<RawInsertResult> RunAsync(long rows, int batchRows, string tenantId, CancellationToken cancellationToken)
    {
        var table = ClickHouseSql.Table(clickHouse.Settings.Database, $"bench_raw_insert_{ids.RunId}");
        var jsonTable = ClickHouseSql.Table(clickHouse.Settings.Database, $"bench_raw_insert_json_{ids.RunId}");
        var rawEvents = ClickHouseSql.Table(clickHouse.Settings.Database, "raw_events");
        await clickHouse.ExecuteAsync($"CREATE TABLE {table} AS {rawEvents}", cancellationToken: cancellationToken);
        await clickHouse.ExecuteAsync($"CREATE TABLE {jsonTable} AS {rawEvents}", cancellationToken: cancellationToken);
        try
        {
            // Another seed than the load's templates: same shape and mix, and the rows' ids are new anyway.
            var catalog = new EventCatalog(seed: 7);
            var specs = Enumerable.Range(0, 4096).Select(_ => Parsed.From(catalog.Next())).ToArray();
            using var buffer = new RowBinaryBuffer();
            var client = TimeSpan.Zero;
            var server = TimeSpan.Zero;
            long bytes = 0;
            var batches = 0;
            for (long done = 0; done < rows;)
            {
                var count = (int)Math.Min(batchRows, rows - done);
                var now = DateTimeOffset.UtcNow;
                var first = ids.Reserve(count);
                var events = new CollectedEvent[count];
                for (var i = 0; i < count; i++)
                {
                    events[i] = specs[(done + i) % specs.Length].Event(tenantId, ids.Format(first + i), now);
                }

                var started = Stopwatch.GetTimestamp();
                buffer.Clear();
                foreach (var e in events)
                {
                    RawEventRow.Write(e, buffer);
                }

                await clickHouse.InsertRowBinaryAsync(table, RawEventRow.Columns, buffer.Written, cancellationToken);
                client += Stopwatch.GetElapsedTime(started);

                bytes += buffer.Length;
                started = Stopwatch.GetTimestamp();
                await PostAsync($"INSERT INTO {table} ({RawEventRow.Columns}) FORMAT RowBinary", buffer.Written, cancellationToken);
                server += Stopwatch.GetElapsedTime(started);
                batches++;
                done += count;
            }

            // One batch as ClickHouse prints it, posted as many times as there were batches.
            var json = Encoding.UTF8.GetBytes(await PostAsync($"SELECT {RawEventRow.Columns} FROM {table} LIMIT {batchRows} FORMAT JSONEachRow", null, cancellationToken));
            var jsonRows = json.Count(b => b == (byte)'\n');
            var jsonServer = TimeSpan.Zero;
            for (long done = 0; done < rows; done += jsonRows)
            {
                var started = Stopwatch.GetTimestamp();
                await PostAsync($"INSERT INTO {jsonTable} ({RawEventRow.Columns}) FORMAT JSONEachRow", json, cancellationToken);
                jsonServer += Stopwatch.GetElapsedTime(started);
            }

            // Scaled to the same row count when the last post was a whole batch past it.
            var posted = (rows + jsonRows - 1) / jsonRows * jsonRows;
            return new RawInsertResult(rows, batches, bytes, json.Length * (long)batches, client, server, jsonServer * rows / posted);
        }
        finally
        {
            await clickHouse.ExecuteAsync($"DROP TABLE IF EXISTS {table}", cancellationToken: CancellationToken.None);
            await clickHouse.ExecuteAsync($"DROP TABLE IF EXISTS {jsonTable}", cancellationToken: CancellationToken.None);
        }
    }

    /// <summary>The statement in the URL and <paramref name="body"/> as its data (or the statement as the body); returns the answer.</summary>
    private async Task<string> PostAsync(string sql, ReadOnlyMemory<byte>? body, CancellationToken cancellationToken)
    {
        var settings = clickHouse.Settings;
        using var request = new HttpRequestMessage(HttpMethod.Post,
            new Uri(settings.Endpoint, $"?database={Uri.EscapeDataString(settings.Database)}" + (body is null ? "" : $"&query={Uri.EscapeDataString(sql)}")))
        {
            Content = body is { } data ? new ReadOnlyMemoryContent(data) : new StringContent(sql),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{settings.Username}:{settings.Password}")));
        using var response = await http.SendAsync(request, cancellationToken);
        var answer = await response.Content.ReadAsStringAsync(cancellationToken);
        return response.IsSuccessStatusCode ? answer : throw new ClickHouseServerException(0, $"The raw insert benchmark's statement failed: {answer.Trim()}", response.StatusCode);
    }

    /// <summary>A generated event with its JSON parsed once, made into the collected event the Ingestor stores.</summary>
    private sealed record Parsed(EventSpec Spec, JsonElement Properties, JsonElement Context)
    {
        public static Parsed From(EventSpec spec) =>
            new(spec, JsonDocument.Parse(spec.PropertiesJson).RootElement.Clone(), JsonDocument.Parse(spec.ContextJson).RootElement.Clone());

        public CollectedEvent Event(string tenantId, string eventId, DateTimeOffset now) => new()
        {
            TenantId = tenantId,
            EventId = eventId,
            Event = Spec.Name,
            UserId = Spec.UserId,
            AnonymousId = Spec.AnonymousId,
            SessionId = Spec.SessionId,
            Timestamp = now,
            ReceivedAt = now,
            Properties = Properties,
            RawContext = Context,
            Context = new EventContext
            {
                AppVersion = Spec.Context.AppVersion, Os = Spec.Context.Os, Device = Spec.Context.Device, Locale = Spec.Context.Locale,
                Timezone = Spec.Context.Timezone, Country = Spec.Context.Country, Library = Spec.Context.Library, Page = Spec.Context.Page,
                UserAgent = Spec.Context.UserAgent,
            },
        };
    }
}
