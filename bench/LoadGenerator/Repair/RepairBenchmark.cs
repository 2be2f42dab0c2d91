using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using LoadGenerator.Platform;
using LoadGenerator.Queries;
using Platform.ClickHouse;

namespace LoadGenerator.Repair;

/// <summary>
/// <c>scripts/bench repair</c>: how long the Transformer takes to repair an imported history by itself. Starts a
/// platform without scheduled builds, builds the models, loads --events rows for --days days that end before the
/// lookback window as if they had just been imported (received and inserted now), then runs the same repair the
/// schedule runs (<c>Transformer run --repair</c>) and prints the time of each model's repairs. It checks that the
/// Api's sessions answer, read from the model after the repair, is the one sessionized from raw_events.
/// </summary>
public static class RepairBenchmark
{
    public const string Usage = """
        Usage: scripts/bench repair [--events N] [--days N] [--users N] [--set KEY=VALUE]

          --events N        imported events (default 1000000)
          --days N          days of history they cover, ending 4 days ago (default 30)
          --users N         distinct users (default: events / 100)
          --set KEY=VALUE   configuration for the platform this run starts; repeatable
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellationToken)
    {
        long events = 1_000_000, users = 0;
        var days = 30;
        var settings = new Dictionary<string, string> { ["Api__CacheDuration"] = "00:00:00", ["Transformer__ScheduleEnabled"] = "false" };
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--events": events = long.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--days": days = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--users": users = long.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--set":
                    var setting = Value();
                    var equals = setting.IndexOf('=');
                    if (equals <= 0)
                    {
                        throw new FormatException($"--set takes KEY=VALUE, not '{setting}'.");
                    }

                    settings[setting[..equals].Replace(":", "__", StringComparison.Ordinal)] = setting[(equals + 1)..];
                    break;
                case "--help" or "-h": output.WriteLine(Usage); return 0;
                default: throw new FormatException($"Unknown argument '{args[i]}' (see scripts/bench repair --help).");
            }
        }

        if (events < 1 || days is < 1 or > 366)
        {
            throw new FormatException("--events must be positive and --days from 1 to 366.");
        }

        await using var platform = await BenchPlatform.StartAsync(null, keepState: false, settings, output, cancellationToken);
        using var clickHouseHttp = new HttpClient { Timeout = TimeSpan.FromMinutes(30) };
        var clickHouse = new ClickHouseClient(clickHouseHttp, ClickHouseConnectionSettings.Parse(platform.ClickHouse));
        var tenant = (await BenchTenants.CreateAsync(platform.TenantStore, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)), 1, cancellationToken))[0];

        output.WriteLine("Building the models once (run) ...");
        await TransformerCommand.RunAsync(platform.ClickHouse, output, cancellationToken, "run");

        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var last = today.AddDays(-4); // the day before the default lookback window: no regular build reaches it again
        var first = last.AddDays(1 - days);
        var from = new DateTimeOffset(first.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var to = new DateTimeOffset(last.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        output.WriteLine($"Importing {events:N0} events for {first:yyyy-MM-dd}..{last:yyyy-MM-dd} straight into raw_events, inserted now ...");
        var imported = DateTimeOffset.UtcNow;
        var load = await new SyntheticEvents(clickHouse, [tenant.Id], users > 0 ? users : Math.Max(100, events / 100))
            .LoadAsync(events, from, to, output, cancellationToken, imported: true);

        using var api = new HttpClient { BaseAddress = platform.Api, Timeout = TimeSpan.FromMinutes(5) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tenant.ReadKey);
        var range = $"from={first:yyyy-MM-dd}&to={last.AddDays(1):yyyy-MM-dd}&tz=UTC";
        var (beforeRepair, beforeTime) = await TimedAsync(() => GetAsync(api, $"/v1/sessions?{range}", cancellationToken));

        // Rows inserted within the clock margin wait for the next run (docs/transformer.md); the schedule's next run is later anyway.
        await Task.Delay(TimeSpan.FromSeconds(11), cancellationToken);
        output.WriteLine("Repairing (Transformer run --repair, as the schedule does) ...");
        var run = await TransformerCommand.RunAsync(platform.ClickHouse, output, cancellationToken, "run", "--repair");
        var repairs = await clickHouse.QueryAsync(
            $"""
            SELECT model, toUInt64(count()) AS ranges, toUInt64(sum(toUInt32(toDate(window_end)) - toUInt32(toDate(window_start)))) AS days,
                   toUInt64(sum(rows)) AS rows, toUInt64(sum(toUInt32(finished_at) - toUInt32(started_at))) AS seconds, toUInt64(countIf(status != 'succeeded')) AS failed
            FROM transform_runs
            WHERE trigger = 'repair' AND started_at >= toDateTime({imported.ToUnixTimeSeconds()})
            GROUP BY model ORDER BY min(started_at)
            """, RepairJsonContext.Default.RepairRow, cancellationToken: cancellationToken);

        var (afterRepair, afterTime) = await TimedAsync(() => GetAsync(api, $"/v1/sessions?{range}", cancellationToken));
        var fromRaw = await GetAsync(api, $"/v1/sessions?{range}&source=raw", cancellationToken);

        output.WriteLine();
        output.WriteLine($"Repair of a {days}-day import of {events:N0} events ({first:yyyy-MM-dd}..{last:yyyy-MM-dd}), {Environment.ProcessorCount} cores");
        output.WriteLine($"  import (INSERT ... SELECT):             {load.TotalSeconds,8:0.0} s");
        output.WriteLine($"  Transformer run --repair, whole run:    {run.TotalSeconds,8:0.0} s (the lookback builds and the process start included)");
        output.WriteLine($"  {"model",-28}{"ranges",7}{"days",6}{"rows",13}{"seconds",9}");
        foreach (var repair in repairs)
        {
            output.WriteLine($"  {repair.Model,-28}{repair.Ranges,7}{repair.Days,6}{repair.Rows,13:N0}{repair.Seconds,9}{(repair.Failed > 0 ? $"  {repair.Failed} FAILED" : "")}");
        }

        output.WriteLine($"  repairs in all:                         {repairs.Sum(r => r.Seconds),8} s");
        output.WriteLine($"  /v1/sessions over the import before the repair: {beforeTime.TotalMilliseconds:N0} ms, sources {Sources(beforeRepair)}, {beforeRepair["count"]} sessions");
        output.WriteLine($"  /v1/sessions over the import after the repair:  {afterTime.TotalMilliseconds:N0} ms, sources {Sources(afterRepair)}, {afterRepair["count"]} sessions");
        var exact = Same(afterRepair, fromRaw) && Same(beforeRepair, fromRaw) && repairs.All(r => r.Failed == 0) && Sources(afterRepair) == "sessions";
        output.WriteLine($"verdict: {(exact ? "PASS" : "FAIL")}: sessions before and after the repair {(exact ? "equal" : "differ from")} those sessionized from raw_events ({fromRaw["count"]}), the model answers after it");
        return exact ? 0 : 1;
    }

    private static bool Same(JsonObject a, JsonObject b) =>
        new[] { "count", "medianSeconds", "p95Seconds", "eventsPerSession", "histogram" }.All(k => JsonNode.DeepEquals(a[k], b[k]));

    private static string Sources(JsonObject answer) => string.Join(",", answer["sources"]!.AsArray().Select(s => (string)s!));

    private static async Task<JsonObject> GetAsync(HttpClient api, string path, CancellationToken cancellationToken)
    {
        using var response = await api.GetAsync(path, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return response.IsSuccessStatusCode ? JsonNode.Parse(body)!.AsObject() : throw new HttpRequestException($"{path}: {(int)response.StatusCode} {body}");
    }

    private static async Task<(T Value, TimeSpan Time)> TimedAsync<T>(Func<Task<T>> action)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var value = await action();
        return (value, started.Elapsed);
    }

    internal sealed record RepairRow(string Model, long Ranges, long Days, long Rows, long Seconds, long Failed);
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(
    PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowReadingFromString)]
[System.Text.Json.Serialization.JsonSerializable(typeof(RepairBenchmark.RepairRow))]
internal sealed partial class RepairJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
