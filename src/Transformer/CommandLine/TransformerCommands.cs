using System.Globalization;
using System.Text.Json;
using Platform.ClickHouse;
using Transformer.Models;
using Transformer.Retention;
using Transformer.Runs;
using Transformer.Scheduling;

namespace Transformer.CommandLine;

/// <summary>
/// The command line on the service's binary: <c>run</c>, <c>test</c>, <c>backfill</c>, <c>list</c>,
/// <c>retention</c>. Exit codes: 0 done, 1 a build or data test failed, 2 the command was wrong.
/// </summary>
public static class TransformerCommands
{
    private static readonly string[] Commands = ["run", "test", "backfill", "list", "retention", "help", "--help"];

    public const string Usage = """
        Usage: Transformer <command> [options]

          run       [--select S] [--full-refresh] [--repair]
                                                    build models (and run their data tests); --repair
                                                    also rebuilds older days rows arrived for late, as
                                                    the service's schedule does
          test      [--select S]                    run data tests only
          backfill  --from YYYY-MM-DD --to YYYY-MM-DD [--select S] [--force]
                                                    re-build those days of incremental models
                                                    (refused for days raw retention already dropped,
                                                    unless --force)
          list      [--select S]                    the models in build order, with what they read
          retention [--dry-run]                     drop expired partitions and tenants' rows

        Selectors: name, name+ (and downstream), +name (and upstream), group:G, layer:L; comma-separated.
        ClickHouse: ConnectionStrings:clickhouse (environment ConnectionStrings__clickhouse), --clickhouse "Endpoint=...",
        or the clickhouse entry of .platform/endpoints.json (found from the current folder upwards).
        """;

    public static bool IsCommand(string[] args) => args.Length > 0 && Commands.Contains(args[0]);

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        Arguments parsed;
        try
        {
            parsed = Arguments.Parse(args);
        }
        catch (UsageException ex)
        {
            await output.WriteLineAsync($"error: {ex.Message}\n\n{Usage}");
            return 2;
        }

        if (parsed.Command is "help" or "--help")
        {
            await output.WriteLineAsync(Usage);
            return 0;
        }

        var builder = Host.CreateApplicationBuilder(parsed.ConfigurationArgs);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var connection = parsed.ClickHouse ?? (builder.Configuration.GetConnectionString("clickhouse") is null ? FindPlatformClickHouse() : null);
        if (connection is not null)
        {
            builder.Configuration["ConnectionStrings:clickhouse"] = connection;
        }

        builder.Configuration["Transformer:ScheduleEnabled"] = "false";
        try
        {
            if (parsed.Command == "list")
            {
                builder.AddTransformerModels();
            }
            else
            {
                builder.AddTransformerCore();
            }

            using var host = builder.Build();
            var project = host.Services.GetRequiredService<ModelProject>();
            return parsed.Command switch
            {
                "list" => await ListAsync(project, parsed, output),
                "retention" => await RetentionAsync(host.Services, parsed, output),
                _ => await RunModelsAsync(host.Services, parsed, output),
            };
        }
        catch (Exception ex) when (ex is ModelLoadException or SelectionException or UsageException or InvalidOperationException or FormatException)
        {
            await output.WriteLineAsync($"error: {ex.Message}");
            return 2;
        }
        catch (Exception ex) when (ex is ClickHouseUnavailableException or ClickHouseServerException)
        {
            await output.WriteLineAsync($"error: {ex.Message}");
            return 1;
        }
    }

    private static async Task<int> ListAsync(ModelProject project, Arguments args, TextWriter output)
    {
        var models = project.Select(args.Select);
        var width = models.Max(m => m.Name.Length) + 2;
        await output.WriteLineAsync($"{"model".PadRight(width)}{"materialized",-13}{"group",-8}{"layer",-10}reads");
        foreach (var model in models)
        {
            var reads = model.DependsOn.Concat(model.Sql.Sources.Select(s => $"source {s.Source}.{s.Table}"));
            var extra = model.Config.Materialized == Materialization.Incremental ? $" (by {model.Config.TimeColumn})" : "";
            await output.WriteLineAsync(
                $"{model.Name.PadRight(width)}{model.MaterializedName,-13}{model.Config.Group,-8}{model.Layer,-10}{string.Join(", ", reads)}{extra}");
        }

        return 0;
    }

    private static async Task<int> RunModelsAsync(IServiceProvider services, Arguments args, TextWriter output)
    {
        services.GetRequiredService<ModelProject>().Select(args.Select); // a wrong selector is a usage error, before ClickHouse is asked anything
        if (args.From is { } from && !args.Force && RawHorizon(services) is { } horizon && from < horizon)
        {
            // Rebuilding a day whose raw events retention dropped would replace its rollups with nothing.
            throw new UsageException(
                $"--from {from:yyyy-MM-dd} is before {horizon:yyyy-MM-dd}, the oldest day raw_events still holds for every tenant; "
                + "rebuilding earlier days would empty rollups that outlive the raw data. Use --force if those days' raw events are really there.");
        }

        var client = services.GetRequiredService<ClickHouseClient>();
        await services.GetRequiredService<ClickHouseMigrator>().ApplyAsync(ScheduleService.Migrations, ScheduleService.Component, CancellationToken.None);
        var runner = services.GetRequiredService<ModelRunner>();
        var request = new RunRequest
        {
            Select = args.Select,
            FullRefresh = args.FullRefresh,
            From = args.From,
            To = args.To,
            TestOnly = args.Command == "test",
            Trigger = args.Command,
            RepairLateDays = args.Repair,
        };
        var report = await runner.RunAsync(request);
        await output.WriteLineAsync($"run {report.RunId} on {client.Settings.Endpoint.GetLeftPart(UriPartial.Authority)} database {client.Settings.Database}");
        foreach (var result in report.Results)
        {
            var detail = result.Status == ModelRunStatus.Succeeded
                ? $"{result.Rows} rows{(result.Note is null ? "" : $", {result.Note}")}"
                : result.Error;
            await output.WriteLineAsync($"  {result.StatusName,-10}{result.Model,-28}{(long)result.Duration.TotalMilliseconds,7} ms  {detail}");
            foreach (var repair in result.Repairs)
            {
                await output.WriteLineAsync($"      repair {repair.Status.ToString().ToLowerInvariant(),-10}{repair.First:yyyy-MM-dd}..{repair.Last:yyyy-MM-dd}{(long)repair.Duration.TotalMilliseconds,9} ms  " +
                    (repair.Error ?? $"{repair.Rows} rows"));
            }
            foreach (var test in result.Tests)
            {
                await output.WriteLineAsync($"      test {test.Status,-7}{test.Test}{(test.Passed ? "" : $": {test.Failures} failing rows{(test.Error is null ? "" : $" ({test.Error})")}")}");
                foreach (var sample in test.Samples)
                {
                    await output.WriteLineAsync($"           {sample}");
                }
            }
        }

        return report.Succeeded && report.Results.All(r => r.Status != ModelRunStatus.Skipped) ? 0 : 1;
    }

    private static async Task<int> RetentionAsync(IServiceProvider services, Arguments args, TextWriter output)
    {
        await services.GetRequiredService<ClickHouseMigrator>().ApplyAsync(ScheduleService.Migrations, ScheduleService.Component, CancellationToken.None);
        var tables = services.GetRequiredService<IRetentionTables>().Resolve();
        var actions = await services.GetRequiredService<RetentionRunner>().RunAsync(tables, args.DryRun, CancellationToken.None);
        await output.WriteLineAsync(args.DryRun ? "retention plan (dry run, nothing changed):" : "retention done:");
        foreach (var table in tables.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var overrides = table.Value.Tenants.Count == 0 ? "" : $", tenants: {string.Join(", ", table.Value.Tenants.Select(t => $"{t.Key} {t.Value} days"))}";
            await output.WriteLineAsync($"  {table.Key}: {table.Value.Days} days by {table.Value.TimeColumn}{overrides}");
        }

        foreach (var action in actions)
        {
            await output.WriteLineAsync($"  {action.Action,-15}{action.Table,-26}{action.Partition,-20}{action.TenantId ?? "all tenants",-14}before {action.Cutoff:yyyy-MM-dd}  {action.Rows} rows");
        }

        if (actions.Count == 0)
        {
            await output.WriteLineAsync("  nothing has expired");
        }

        return 0;
    }

    /// <summary>The first day raw_events holds for every tenant under its retention (the shortest one wins).</summary>
    private static DateOnly? RawHorizon(IServiceProvider services)
    {
        if (!services.GetRequiredService<IRetentionTables>().Resolve().TryGetValue("raw_events", out var raw))
        {
            return null;
        }

        var days = raw.Tenants.Values.Append(raw.Days).Min();
        return DateOnly.FromDateTime(services.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime).AddDays(-days);
    }

    /// <summary>A developer's platform started by the AppHost writes its endpoints here.</summary>
    private static string? FindPlatformClickHouse()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var file = Path.Combine(dir.FullName, ".platform", "endpoints.json");
            if (File.Exists(file))
            {
                using var document = JsonDocument.Parse(File.ReadAllText(file));
                return document.RootElement.TryGetProperty("clickhouse", out var value) ? value.GetString() : null;
            }
        }

        return null;
    }

    private sealed record Arguments(string Command, string? Select, bool FullRefresh, bool Repair, DateOnly? From, DateOnly? To, bool DryRun, bool Force, string? ClickHouse, string[] ConfigurationArgs)
    {
        public static Arguments Parse(string[] args)
        {
            var command = args[0];
            string? select = null, clickHouse = null;
            DateOnly? from = null, to = null;
            bool fullRefresh = false, repair = false, dryRun = false, force = false;
            var configuration = new List<string>();
            for (var i = 1; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : throw new UsageException($"{args[i]} needs a value.");
                switch (args[i])
                {
                    case "--select" or "-s": select = Value(); break;
                    case "--full-refresh" when command == "run": fullRefresh = true; break;
                    case "--repair" when command == "run": repair = true; break;
                    case "--from" when command == "backfill": from = Day(Value()); break;
                    case "--to" when command == "backfill": to = Day(Value()); break;
                    case "--dry-run" when command == "retention": dryRun = true; break;
                    case "--force" when command == "backfill": force = true; break;
                    case "--clickhouse": clickHouse = Value(); break;
                    case var option when option.StartsWith("--", StringComparison.Ordinal) && option.Contains(':', StringComparison.Ordinal):
                        configuration.Add(option);
                        configuration.Add(Value());
                        break;
                    default: throw new UsageException($"'{args[i]}' is not an option of '{command}'.");
                }
            }

            if (command == "backfill" && (from is null || to is null))
            {
                throw new UsageException("backfill needs --from and --to.");
            }

            if (from > to)
            {
                throw new UsageException($"--from {from:yyyy-MM-dd} is after --to {to:yyyy-MM-dd}.");
            }

            return new Arguments(command, select, fullRefresh, repair, from, to, dryRun, force, clickHouse, configuration.ToArray());
        }

        private static DateOnly Day(string text) =>
            DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)
                ? day : throw new UsageException($"'{text}' is not a day (YYYY-MM-DD).");
    }
}

public sealed class UsageException(string message) : Exception(message);
