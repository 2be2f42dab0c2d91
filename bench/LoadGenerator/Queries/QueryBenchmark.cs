using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using LoadGenerator.Measuring;
using LoadGenerator.Platform;
using Platform.ClickHouse;

namespace LoadGenerator.Queries;

/// <summary>Latencies of one question: through the Api, and as straightforward SQL; <see cref="Note"/> when the Api part was skipped.</summary>
public sealed record QueryResult(QueryCase Case, Percentiles? Api, Percentiles Sql, string? Sources, string? Note);

/// <summary>
/// The query benchmark: platform, generated history loaded straight into ClickHouse, a full Transformer
/// refresh, then each endpoint and its straightforward SQL measured in turn, one request at a time.
/// </summary>
public static class QueryBenchmark
{
    public static async Task<int> RunAsync(QueryBenchOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        var runId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        await using var platform = options.EndpointsFile is { } endpoints
            ? await BenchPlatform.AttachAsync(endpoints, cancellationToken)
            : await BenchPlatform.StartAsync(options.StateDirectory, options.KeepData, PlatformSettings(options), output, cancellationToken);
        if (!platform.IsOwn)
        {
            output.WriteLine("Note: a running platform's output cache is bypassed with a nonce parameter per request; its Transformer schedules keep running.");
        }

        using var clickHouseHttp = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        var clickHouse = new ClickHouseClient(clickHouseHttp, ClickHouseConnectionSettings.Parse(platform.ClickHouse));
        var tenants = await BenchTenants.CreateAsync(platform.TenantStore, runId, options.Tenants, cancellationToken);
        try
        {
            // History ends 10 minutes ago so nothing looks inserted after the Transformer's build (the Api would then read those days from events).
            var end = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeSeconds());
            output.WriteLine($"Run {runId}: loading {options.Events:N0} events ({options.Tenants} tenants, {options.UsersPerTenant:N0} users each, {options.Days} days) "
                + "straight into raw_events with INSERT ... SELECT FROM numbers() (not through the Collector) ...");
            var loading = await new SyntheticEvents(clickHouse, tenants.Select(t => t.Id).ToList(), options.UsersPerTenant)
                .LoadAsync(options.Events, end.AddDays(-options.Days), end, output, cancellationToken);
            output.WriteLine($"Loaded in {loading.TotalSeconds:0.0} s ({options.Events / loading.TotalSeconds:N0} rows/s).");

            output.WriteLine("Rebuilding the Transformer's models (run --full-refresh) ...");
            var refresh = await TransformerCommand.RunAsync(platform.ClickHouse, output, cancellationToken, "run", "--full-refresh");
            output.WriteLine($"Full refresh done in {refresh.TotalSeconds:0.0} s.");
            // The load and the rebuild leave merges running for a while; measuring beside them would time the two cores they take.
            var settling = await ClickHouseMerges.SettledAsync(clickHouse, TimeSpan.FromMinutes(5), cancellationToken);
            output.WriteLine($"Background merges settled in {settling.TotalSeconds:0.0} s.");

            var today = new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date, TimeSpan.Zero);
            var results = new List<QueryResult>();
            foreach (var queryCase in QueryCases.For(clickHouse.Settings.Database, today))
            {
                output.WriteLine($"Measuring {queryCase.Endpoint}, {queryCase.Path} ...");
                results.Add(await MeasureAsync(queryCase, platform, clickHouse, tenants, options, cancellationToken));
            }

            Print(results, options, output);
            return 0;
        }
        finally
        {
            if (!platform.IsOwn && !options.KeepData)
            {
                await CleanUpAsync(platform, clickHouse, tenants, output);
            }
        }
    }

    private static Dictionary<string, string> PlatformSettings(QueryBenchOptions options)
    {
        var settings = new Dictionary<string, string>
        {
            ["Api__CacheDuration"] = "00:00:00", // every measured request reaches ClickHouse
            // No scheduled builds competing for the two cores: the run's own full refresh builds the models.
            ["Transformer__ScheduleEnabled"] = "false",
        };
        foreach (var (key, value) in options.Settings)
        {
            settings[key] = value;
        }

        return settings;
    }

    private const int SqlWarmup = 5;

    private static async Task<QueryResult> MeasureAsync(
        QueryCase queryCase, BenchPlatform platform, ClickHouseClient clickHouse, IReadOnlyList<BenchTenant> tenants, QueryBenchOptions options, CancellationToken cancellationToken)
    {
        using var api = new HttpClient { BaseAddress = platform.Api, Timeout = TimeSpan.FromMinutes(2) };
        var apiTimes = new List<double>();
        var sqlTimes = new List<double>();
        string? note = null;
        string? sources = null;
        // Raw answers take seconds at 10M events: a few requests show their cost without holding the run up.
        var raw = queryCase.Path.StartsWith("raw", StringComparison.Ordinal);
        var warmup = raw ? Math.Min(options.Warmup, 1) : options.Warmup;
        var iterations = raw ? Math.Min(options.Iterations, 10) : options.Iterations;
        for (var i = 0; i < warmup + iterations; i++)
        {
            var tenant = tenants[i % tenants.Count];
            if (note is null)
            {
                using var request = queryCase.Request();
                request.RequestUri = Nonce(request.RequestUri!, platform.IsOwn ? null : $"{i}-{Guid.NewGuid():N}");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tenant.ReadKey);
                var started = Stopwatch.GetTimestamp();
                using var response = await api.SendAsync(request, cancellationToken);
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (response.StatusCode == HttpStatusCode.NotFound && i == 0)
                {
                    note = "skipped: the Api answers 404 (endpoint not in this build)";
                }
                else if (!response.IsSuccessStatusCode)
                {
                    note = $"skipped: the Api answered {(int)response.StatusCode}: {Shorten(body)}";
                }
                else if (i >= warmup)
                {
                    apiTimes.Add(elapsed);
                    sources ??= Sources(body);
                }
            }

            // ClickHouse is warm after a few runs of a query; only the Api's JIT needs the longer warm-up.
            if (i < warmup - SqlWarmup)
            {
                continue;
            }

            var sqlStarted = Stopwatch.GetTimestamp();
            await clickHouse.QueryScalarAsync(queryCase.Sql(tenant.Id), new ClickHouseQueryOptions { Readonly = true, MaxExecutionTime = TimeSpan.FromMinutes(2) }, cancellationToken);
            if (i >= warmup)
            {
                sqlTimes.Add(Stopwatch.GetElapsedTime(sqlStarted).TotalMilliseconds);
            }
        }

        return new QueryResult(queryCase, note is null ? new Percentiles(apiTimes) : null, new Percentiles(sqlTimes), sources, note);
    }

    /// <summary>The tables an answer says it read (trends' <c>sources</c>), which shows whether the rollup was used.</summary>
    private static string? Sources(string body)
    {
        try
        {
            return JsonNode.Parse(body) is JsonObject { } json && json["sources"] is JsonArray list ? string.Join("+", list.Select(s => s!.GetValue<string>())) : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static Uri Nonce(Uri uri, string? nonce)
    {
        if (nonce is null)
        {
            return uri;
        }

        var text = uri.OriginalString;
        return new Uri(text + (text.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "bench_nonce=" + nonce, UriKind.Relative);
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + " ...";

    private static void Print(IReadOnlyList<QueryResult> results, QueryBenchOptions options, TextWriter output)
    {
        static string Ms(Percentiles? p, double percentile) => p is null || p.Count == 0 ? "-" : p[percentile].ToString("0.0", CultureInfo.InvariantCulture);

        output.WriteLine();
        output.WriteLine($"Query latency, {options.Iterations} requests each after {options.Warmup} warm-up (SQL: {Math.Min(options.Warmup, SqlWarmup)}; raw paths: at most 10 after 1), one at a time, {options.Events:N0} events over {options.Days} days, {options.Tenants} tenants; questions over the last 30 whole UTC days.");
        output.WriteLine("'SQL' is the same question as straightforward SQL over raw_events sent straight to ClickHouse (no dedupe, no models), measured in the same run.");
        output.WriteLine();
        var header = $"{"endpoint",-20} {"path",-22} {"read",-34} {"p50 ms",8} {"p95 ms",8} {"SQL p50",8} {"SQL p95",8}  target";
        output.WriteLine(header);
        output.WriteLine(new string('-', header.Length + 20));
        foreach (var r in results)
        {
            var verdict = r.Case.Target is not { } target ? ""
                : r.Api is null ? $"{target.Label}: not measured"
                : $"{target.Label}: {(r.Api[95] < target.P95Ms ? "pass" : "MISS")}";
            output.WriteLine($"{r.Case.Endpoint,-20} {r.Case.Path,-22} {Truncate(r.Sources ?? "", 34),-34} {Ms(r.Api, 50),8} {Ms(r.Api, 95),8} {Ms(r.Sql, 50),8} {Ms(r.Sql, 95),8}  {verdict}");
        }

        foreach (var r in results.Where(r => r.Note is not null))
        {
            output.WriteLine($"  {r.Case.Endpoint}: {r.Note}");
        }
    }

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..(length - 3)] + "...";

    private static async Task CleanUpAsync(BenchPlatform platform, ClickHouseClient clickHouse, IReadOnlyList<BenchTenant> tenants, TextWriter output)
    {
        try
        {
            await clickHouse.ExecuteAsync($"ALTER TABLE {ClickHouseSql.Table(clickHouse.Settings.Database, "raw_events")} DELETE WHERE tenant_id IN ({ClickHouseSql.List(tenants.Select(t => t.Id))})");
            await BenchTenants.RevokeAsync(platform.TenantStore, tenants);
            output.WriteLine("Cleaned up: the run's raw rows are being deleted and its keys revoked (model rows go with the next full refresh; --keep-data keeps them).");
        }
        catch (Exception ex) when (ex is ClickHouseServerException or ClickHouseUnavailableException or Npgsql.NpgsqlException)
        {
            output.WriteLine($"warning: cleaning up failed: {ex.Message}");
        }
    }
}
