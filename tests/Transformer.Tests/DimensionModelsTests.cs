using Microsoft.Extensions.Logging.Abstractions;
using Platform.ClickHouse;
using Platform.Testing;
using Transformer.CommandLine;
using Transformer.Models;
using Transformer.Runs;

namespace Transformer.Tests;

/// <summary>
/// The shipped dim_accounts and dim_users models, built by the real runner from rows written in the
/// exact shape the CDC bridge's apply side produces (several versions of a row, deletes), and what
/// the Transformer does while those tables do not exist yet.
/// </summary>
[Collection(TransformerCollection.Name)]
public class DimensionModelsTests(TransformerClickHouse clickHouse)
{
    private static readonly string ModelsPath = Path.Combine(AppContext.BaseDirectory, "models");
    private static readonly DateTimeOffset Jan1 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task DimensionModelsWaitForTheirCdcSourcesThenBuildOnceTheyAppear()
    {
        var client = await clickHouse.NewDatabaseAsync("dimwait");
        var runner = Runner(client);

        var before = await runner.RunAsync(new RunRequest { Select = "dim_accounts+" });

        Assert.True(before.Succeeded);
        Assert.Equal("dim_accounts:Waiting dim_users:Waiting", Summary(before));
        Assert.Contains("optional sources cdc_accounts_current, cdc_subscriptions_current do not exist yet", before.Results[0].Error);
        Assert.Contains("upstream dim_accounts waits for its source", before.Results[1].Error);
        Assert.Equal(ModelState.WaitingForSource, runner.States["dim_users"]!.Status);
        Assert.Equal("0", await client.QueryScalarAsync($"SELECT count() FROM system.tables WHERE database = {ClickHouseSql.Literal(client.Settings.Database)} AND name LIKE 'dim_%'"));

        var cdc = new CdcContractTables(client);
        await cdc.CreateAsync();
        await cdc.AccountAsync("t1", 1, "Acme", "team", 3, Jan1);
        await cdc.UserAsync("t1", "u1", 1, Jan1, "DE");
        var after = await runner.RunAsync(new RunRequest { Select = "dim_accounts+" });

        Assert.Equal("dim_accounts:Succeeded dim_users:Succeeded", Summary(after));
        Assert.All(after.Results, r => Assert.All(r.Tests, t => Assert.True(t.Passed, t.Test)));
        Assert.Equal("t1\tu1\t1\tteam\t3", await client.QueryScalarAsync("SELECT tenant_id, user_id, account_id, plan, seats FROM dim_users"));

        // A source that disappears again (tables dropped for a re-snapshot, say): the model keeps its data and waits.
        await client.ExecuteAsync("DROP TABLE cdc_users_current");
        var dropped = await runner.RunAsync(new RunRequest { Select = "dim_users" });

        Assert.Equal("dim_users:Waiting", Summary(dropped));
        Assert.Equal("succeeded", runner.States["dim_users"]!.Status);
        Assert.Contains("optional source cdc_users_current does not exist yet", runner.States["dim_users"]!.Error);
        Assert.Equal("1", await client.QueryScalarAsync("SELECT count() FROM dim_users"));
    }

    [Fact]
    public async Task WaitingIsNotAFailureOnTheCommandLine()
    {
        var client = await clickHouse.NewDatabaseAsync("dimcli");
        using var output = new StringWriter();

        var code = await TransformerCommands.RunAsync(["run", "--select", "dim_users", "--clickhouse", client.Settings.ToString(), "--Transformer:ModelsPath", ModelsPath], output);

        Assert.Equal(0, code);
        Assert.Matches(@"waiting\s+dim_users\s+\d+ ms\s+optional source cdc_users_current does not exist yet", output.ToString());
    }

    [Fact]
    public async Task DimensionsHoldTheLatestVersionOfEachRowWithDeletesAndCancelledSubscriptionsLeftOut()
    {
        var client = await clickHouse.NewDatabaseAsync("dims");
        var cdc = new CdcContractTables(client);
        await cdc.CreateAsync();
        await client.ExecuteAsync($"SYSTEM STOP MERGES {client.Database}.cdc_accounts"); // every version stays a row: the view must fold them

        // t1: account 1 moves from team to business with more seats; account 2 is deleted; account 3 is free.
        await cdc.AccountAsync("t1", 1, "Acme", "team", 3, Jan1);
        await cdc.AccountAsync("t1", 1, "Acme", "business", 5, Jan1);
        await cdc.AccountAsync("t1", 2, "Gone", "enterprise", 50, Jan1.AddDays(1));
        await cdc.DeleteAsync("cdc_accounts", "t1", "2");
        await cdc.AccountAsync("t1", 3, "Solo", "free", 1, Jan1.AddDays(2));
        // The same account id in another tenant is another account.
        await cdc.AccountAsync("t2", 1, "Other", "enterprise", 20, Jan1.AddDays(3));

        await cdc.SubscriptionAsync("t1", 10, 1, "team", 4_500, "active", Jan1);
        await cdc.SubscriptionAsync("t1", 10, 1, "team", 4_500, "cancelled", Jan1); // replaced by the business one
        await cdc.SubscriptionAsync("t1", 11, 1, "business", 20_000, "active", Jan1.AddDays(5));
        await cdc.SubscriptionAsync("t1", 12, 1, "addon", 1_000, "active", Jan1.AddDays(6));
        await cdc.SubscriptionAsync("t1", 13, 1, "addon", 700, "active", Jan1.AddDays(6));
        await cdc.DeleteAsync("cdc_subscriptions", "t1", "13");
        await cdc.SubscriptionAsync("t1", 20, 2, "enterprise", 450_000, "active", Jan1);
        await cdc.SubscriptionAsync("t2", 10, 1, "enterprise", 180_000, "active", Jan1);

        await cdc.UserAsync("t1", "u1", 1, Jan1.AddHours(1), "DE");
        await cdc.UserAsync("t1", "u2", 1, Jan1.AddHours(2), null);
        await cdc.UserAsync("t1", "u3", 2, Jan1.AddHours(3), "FR"); // its account was deleted
        await cdc.UserAsync("t1", "u4", 3, Jan1.AddHours(4), "US");
        await cdc.UserAsync("t1", "u4", 3, Jan1.AddHours(4), "JP"); // moved country
        await cdc.UserAsync("t1", "u5", 3, Jan1.AddHours(5), "US");
        await cdc.DeleteAsync("cdc_users", "t1", "'u5'");
        await cdc.UserAsync("t2", "u1", 1, Jan1.AddHours(6), "BR");

        var report = await Runner(client).RunAsync(new RunRequest { Select = "dim_accounts+" });

        Assert.Equal("dim_accounts:Succeeded dim_users:Succeeded", Summary(report));
        Assert.All(report.Results, r => Assert.All(r.Tests, t => Assert.True(t.Passed, t.Test)));
        Assert.Equal(
            [
                "t1\t1\tAcme\tbusiness\t5\t21000\t2026-01-01 00:00:00",
                "t1\t3\tSolo\tfree\t1\t0\t2026-01-03 00:00:00",
                "t2\t1\tOther\tenterprise\t20\t180000\t2026-01-04 00:00:00",
            ],
            await RowsAsync(client, "SELECT tenant_id, account_id, name, plan, seats, mrr_cents, toString(created_at, 'UTC') FROM dim_accounts ORDER BY tenant_id, account_id"));
        Assert.Equal(
            [
                "t1\tu1\t1\tbusiness\t5\t2026-01-01 01:00:00\tDE",
                "t1\tu2\t1\tbusiness\t5\t2026-01-01 02:00:00\t",
                "t1\tu3\t2\t\t0\t2026-01-01 03:00:00\tFR",
                "t1\tu4\t3\tfree\t1\t2026-01-01 04:00:00\tJP",
                "t2\tu1\t1\tenterprise\t20\t2026-01-01 06:00:00\tBR",
            ],
            await RowsAsync(client, "SELECT tenant_id, user_id, account_id, plan, seats, toString(signup_at, 'UTC'), country FROM dim_users ORDER BY tenant_id, user_id"));
    }

    [Fact]
    public void ASourceTableSettingIsCheckedAtLoad()
    {
        using var unknown = new ModelFolder("cdc:\n  cdc_users_current: { optinal: true }\n").Add("m.sql", "SELECT 1 AS x FROM {{ source('cdc', 'cdc_users_current') }}");
        using var notABool = new ModelFolder("cdc:\n  cdc_users_current: { optional: maybe }\n").Add("m.sql", "SELECT 1 AS x FROM {{ source('cdc', 'cdc_users_current') }}");
        using var optional = new ModelFolder("raw:\n  raw_events: {}\ncdc:\n  cdc_users_current: { optional: true }\n")
            .Add("m.sql", "SELECT 1 AS x FROM {{ source('cdc', 'cdc_users_current') }} JOIN {{ source('raw', 'raw_events') }} USING (x)");

        Assert.Contains("unknown setting 'optinal' of source table 'cdc.cdc_users_current'", Assert.Throws<ModelLoadException>(unknown.Load).Message);
        Assert.Contains("'optional' of source table 'cdc.cdc_users_current' must be true or false, not 'maybe'", Assert.Throws<ModelLoadException>(notABool.Load).Message);
        var project = optional.Load();
        Assert.Equal(["cdc_users_current"], project.OptionalSourcesOf(project["m"]));
    }

    private static ModelRunner Runner(ClickHouseClient client) =>
        new(client, ModelProject.Load(ModelsPath), new TransformerOptions { ModelsPath = ModelsPath, ScheduleEnabled = false }, new FixedTimeProvider(Jan1.AddDays(40)), NullLogger<ModelRunner>.Instance);

    private static string Summary(RunReport report) => string.Join(" ", report.Results.Select(r => $"{r.Model}:{r.Status}"));

    private static async Task<List<string>> RowsAsync(ClickHouseClient client, string sql) =>
        (await client.QueryScalarAsync(sql)).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
}
