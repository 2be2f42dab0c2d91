using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using LoadGenerator.Measuring;
using LoadGenerator.Platform;
using Npgsql;
using Platform.ClickHouse;

namespace LoadGenerator.Cdc;

/// <summary>
/// Replication lag of the CDC bridge under a steady write load: PostgreSQL commit to a row readable in
/// ClickHouse, timed per inserted row by polling the replicated table, beside the lag the bridge reports.
/// </summary>
public static class CdcBenchmark
{
    private const string Table = "bench_cdc_orders";
    private const string TenantId = "bench-cdc";

    public static async Task<int> RunAsync(CdcBenchOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        var settings = new Dictionary<string, string> { ["Cdc__Tables"] = Table, ["Cdc__TenantId"] = TenantId };
        await using var platform = await BenchPlatform.StartAsync(null, keepState: false, settings, output, cancellationToken);
        var app = platform.App!;
        var source = app["app"].ConnectionString!;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var clickHouse = new ClickHouseClient(http, ClickHouseConnectionSettings.Parse(platform.ClickHouse));
        var ingestor = new Uri(app["ingestor"].Url!);

        // The table appears after the platform started, so the bridge is restarted to take it on.
        await ExecuteAsync(source, $"CREATE TABLE {Table} (id bigint PRIMARY KEY, account_id bigint NOT NULL, status text NOT NULL, amount_cents bigint NOT NULL, written_at timestamptz NOT NULL)", cancellationToken);
        await app.StopResourceAsync("ingestor");
        await app.StartResourceAsync("ingestor");
        await ExecuteAsync(source, $"INSERT INTO {Table} VALUES (0, 0, 'open', 0, now())", cancellationToken);
        if (!await WaitAsync(async () => await CountAsync(clickHouse, "id = 0", cancellationToken) == 1, TimeSpan.FromMinutes(2), cancellationToken))
        {
            output.WriteLine($"The first row never reached ClickHouse; the Ingestor's log is in {Path.Combine(platform.StateDirectory, "logs")}.");
            platform.KeepState();
            return 1;
        }

        output.WriteLine($"Bridge streaming. Writing {options.Rate} transactions/s for {options.Seconds} s (70% inserts, 20% updates, 10% deletes) ...");
        var pending = new ConcurrentDictionary<long, long>();
        var latencies = new ConcurrentBag<double>();
        var reportedLag = new ConcurrentBag<(string Field, double Value)>();
        using var stopSampling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var poller = PollArrivalsAsync(clickHouse, pending, latencies, stopSampling.Token);
        var sampler = SampleStatusAsync(http, ingestor, reportedLag, stopSampling.Token);

        var (transactions, elapsed) = await WriteAsync(source, options, pending, cancellationToken);
        output.WriteLine($"Wrote {transactions:N0} transactions in {elapsed.TotalSeconds:0.0} s ({transactions / elapsed.TotalSeconds:0} per second). Waiting for the last rows ...");
        await WaitAsync(() => Task.FromResult(pending.IsEmpty), TimeSpan.FromSeconds(60), cancellationToken);
        await stopSampling.CancelAsync();
        await Task.WhenAll(poller, sampler);

        var exact = await WaitAsync(async () => await TotalsAsync(source, cancellationToken) == await ViewTotalsAsync(clickHouse, cancellationToken), TimeSpan.FromSeconds(60), cancellationToken);
        var arrival = new Percentiles(latencies);
        output.WriteLine();
        output.WriteLine($"Commit in PostgreSQL -> row readable in ClickHouse ({arrival.Count:N0} inserts timed, polled every 20 ms):");
        output.WriteLine($"  p50 {arrival[50]:0} ms   p95 {arrival[95]:0} ms   p99 {arrival[99]:0} ms   max {arrival.Max:0} ms");
        foreach (var field in reportedLag.GroupBy(l => l.Field).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var values = new Percentiles(field.Select(f => f.Value));
            output.WriteLine($"  status {field.Key}: p50 {values[50]:N0}  max {values.Max:N0}  ({values.Count} samples, one a second)");
        }

        output.WriteLine(pending.IsEmpty ? "Every insert arrived." : $"{pending.Count} inserts had not arrived 60 s after the load.");
        output.WriteLine(exact ? "Final state exact: ClickHouse's current rows equal PostgreSQL's (count and sum)." : "Final state DIFFERS between PostgreSQL and ClickHouse.");
        return pending.IsEmpty && exact ? 0 : 1;
    }

    private static async Task<(long Transactions, TimeSpan Elapsed)> WriteAsync(string source, CdcBenchOptions options, ConcurrentDictionary<long, long> pending, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(source);
        await connection.OpenAsync(cancellationToken);
        var random = new Random(42);
        var live = new List<long>();
        var nextId = 1L;
        var interval = TimeSpan.FromSeconds(1.0 / options.Rate);
        var clock = Stopwatch.StartNew();
        var count = 0L;
        while (clock.Elapsed < TimeSpan.FromSeconds(options.Seconds))
        {
            var roll = random.Next(100);
            string sql;
            long? inserted = null;
            if (roll < 70 || live.Count == 0)
            {
                inserted = nextId++;
                sql = $"INSERT INTO {Table} VALUES ({inserted}, {inserted % 50}, 'open', {random.Next(100, 100_000)}, now())";
            }
            else if (roll < 90)
            {
                sql = $"UPDATE {Table} SET status = 'paid', amount_cents = amount_cents + 1, written_at = now() WHERE id = {live[random.Next(live.Count)]}";
            }
            else
            {
                var index = random.Next(live.Count);
                sql = $"DELETE FROM {Table} WHERE id = {live[index]}";
                live[index] = live[^1];
                live.RemoveAt(live.Count - 1);
            }

            await using (var command = new NpgsqlCommand(sql, connection))
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            if (inserted is { } id)
            {
                pending[id] = Stopwatch.GetTimestamp();
                live.Add(id);
            }

            count++;
            var due = interval * count - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due, cancellationToken);
            }
        }

        return (count, clock.Elapsed);
    }

    /// <summary>Marks pending inserts as arrived when their row (or its tombstone) is in the replicated table.</summary>
    private static async Task PollArrivalsAsync(ClickHouseClient clickHouse, ConcurrentDictionary<long, long> pending, ConcurrentBag<double> latencies, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            if (!pending.IsEmpty)
            {
                var ids = pending.Keys.ToArray();
                var text = await clickHouse.QueryScalarAsync(
                    $"SELECT id FROM cdc_{Table} WHERE tenant_id = {ClickHouseSql.Literal(TenantId)} AND id >= {ids.Min()} AND id <= {ids.Max()}", cancellationToken: CancellationToken.None);
                var now = Stopwatch.GetTimestamp();
                foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (pending.TryRemove(long.Parse(line, CultureInfo.InvariantCulture), out var committed))
                    {
                        latencies.Add(Stopwatch.GetElapsedTime(committed, now).TotalMilliseconds);
                    }
                }
            }

            try
            {
                await Task.Delay(20, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Every second, the lag figures (fields ending in Bytes or Seconds) of the bridge's status.</summary>
    private static async Task SampleStatusAsync(HttpClient http, Uri ingestor, ConcurrentBag<(string, double)> samples, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var status = await http.GetFromJsonAsync<JsonObject>(new Uri(ingestor, "/v1/status"), stop);
                if (status?["cdc"] is JsonObject cdc)
                {
                    foreach (var (name, value) in Flatten(cdc, "cdc"))
                    {
                        samples.Add((name, value));
                    }
                }

                await Task.Delay(1000, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static IEnumerable<(string, double)> Flatten(JsonObject node, string path)
    {
        foreach (var (name, value) in node)
        {
            if (value is JsonObject child)
            {
                foreach (var nested in Flatten(child, $"{path}.{name}"))
                {
                    yield return nested;
                }
            }
            else if (value is JsonValue number && number.TryGetValue<double>(out var figure)
                && (name.EndsWith("Bytes", StringComparison.Ordinal) || name.EndsWith("Seconds", StringComparison.Ordinal)))
            {
                yield return ($"{path}.{name}", figure);
            }
        }
    }

    private static async Task<string> TotalsAsync(string source, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(source);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"SELECT count(*) || ' ' || coalesce(sum(amount_cents), 0) FROM {Table}", connection);
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<string> ViewTotalsAsync(ClickHouseClient clickHouse, CancellationToken cancellationToken) =>
        (await clickHouse.QueryScalarAsync(
            $"SELECT concat(toString(count()), ' ', toString(sum(amount_cents))) FROM cdc_{Table}_current WHERE tenant_id = {ClickHouseSql.Literal(TenantId)}",
            cancellationToken: cancellationToken)).Trim();

    private static async Task<long> CountAsync(ClickHouseClient clickHouse, string where, CancellationToken cancellationToken)
    {
        try
        {
            return await clickHouse.QueryLongAsync($"SELECT count() FROM cdc_{Table}_current WHERE tenant_id = {ClickHouseSql.Literal(TenantId)} AND {where}", cancellationToken: cancellationToken);
        }
        catch (ClickHouseServerException ex) when (ex.Code == 60)
        {
            return 0; // the bridge creates the table with its first change
        }
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<bool> WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(200, cancellationToken);
        }

        return await condition();
    }
}
