using Platform.ClickHouse;
using Transformer.CommandLine;

namespace Transformer.Tests;

[Collection(TransformerCollection.Name)]
public class CommandLineTests(TransformerClickHouse clickHouse)
{
    private static async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        var code = await TransformerCommands.RunAsync(args, output);
        return (code, output.ToString());
    }

    private static ModelFolder Models() => new ModelFolder()
        .Add("staging/base.sql", "/*\nmaterialized: table\norder_by: tenant_id\ntests:\n  - not_null: tenant_id\n*/\nSELECT tenant_id, count() AS n FROM {{ source('raw', 'raw_events') }} GROUP BY tenant_id")
        .Add("marts/daily.sql", "/*\nmaterialized: incremental\ntime_column: day\ngroup: heavy\n*/\nSELECT toDate(event_time) AS day, count() AS n FROM {{ source('raw', 'raw_events') }} WHERE event_time >= {{ window_start }} AND event_time < {{ window_end }} GROUP BY day")
        .Add("marts/summary.sql", "SELECT sum(n) AS n FROM {{ ref('base') }}");

    [Fact]
    public async Task ListShowsTheGraphInBuildOrderWithMaterializations()
    {
        using var folder = Models();

        var (code, output) = await RunAsync("list", "--Transformer:ModelsPath", folder.Path);

        Assert.Equal(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Matches(@"^base\s+table\s+light\s+staging\s+source raw\.raw_events", lines[1]);
        Assert.Matches(@"^daily\s+incremental\s+heavy\s+marts\s+source raw\.raw_events \(by day\)", lines[2]);
        Assert.Matches(@"^summary\s+view\s+light\s+marts\s+base", lines[3]);
    }

    [Fact]
    public async Task RunTestAndBackfillBuildThroughTheCommandLine()
    {
        var client = await clickHouse.NewDatabaseAsync("cli");
        await RawEvents.InsertAsync(client, ("t1", "e1", "open", "u1", "2020-01-05 10:00:00"), ("t2", "e2", "open", "u2", "2020-01-06 10:00:00"));
        using var folder = Models();
        string[] common = ["--clickhouse", client.Settings.ToString(), "--Transformer:ModelsPath", folder.Path];

        var run = await RunAsync(["run", "--select", "base+", .. common]);
        var test = await RunAsync(["test", .. common]);
        var daily = await RunAsync(["run", "--select", "daily", .. common]); // first build: all time
        await RawEvents.InsertAsync(client, ("t1", "late", "open", "u1", "2020-01-05 11:00:00"));
        var backfill = await RunAsync(["backfill", "--from", "2020-01-01", "--to", "2020-01-31", "--select", "daily", "--force", .. common]); // 2020 is past raw retention: forced

        Assert.Equal(0, run.Code);
        Assert.Matches(@"succeeded\s+base\s+\d+ ms\s+2 rows", run.Output);
        Assert.Matches(@"succeeded\s+summary", run.Output);
        Assert.DoesNotContain("daily", run.Output, StringComparison.Ordinal);
        Assert.Equal(0, test.Code);
        Assert.Contains("test passed not_null(tenant_id)", test.Output, StringComparison.Ordinal);
        Assert.Equal(0, daily.Code);
        Assert.Equal(0, backfill.Code);
        Assert.Contains("2 rows, backfill", backfill.Output, StringComparison.Ordinal);
        Assert.Equal("2020-01-05:2,2020-01-06:1", await client.QueryScalarAsync("SELECT arrayStringConcat(groupArray(concat(toString(day), ':', toString(n))), ',') FROM (SELECT * FROM daily ORDER BY day)"));
    }

    [Fact]
    public async Task AFailedBuildExitsWithOneAndShowsTheError()
    {
        var client = await clickHouse.NewDatabaseAsync("clifail");
        using var folder = new ModelFolder().Add("broken.sql", "/*\nmaterialized: table\n*/\nSELECT no_such_column FROM {{ source('raw', 'raw_events') }}");

        var (code, output) = await RunAsync("run", "--clickhouse", client.Settings.ToString(), "--Transformer:ModelsPath", folder.Path);

        Assert.Equal(1, code);
        Assert.Matches(@"failed\s+broken.*no_such_column", output);
    }

    [Theory]
    [InlineData("backfill --from 2026-01-01", "backfill needs --from and --to")]
    [InlineData("backfill --from 2026-02-01 --to 2026-01-01", "--from 2026-02-01 is after --to 2026-01-01")]
    [InlineData("backfill --from yesterday --to 2026-01-01", "'yesterday' is not a day")]
    [InlineData("run --dry-run", "'--dry-run' is not an option of 'run'")]
    [InlineData("run --select", "--select needs a value")]
    [InlineData("run --select nope", "No model named 'nope'")]
    [InlineData("backfill --from 2001-01-01 --to 2001-01-31", "is before")]
    [InlineData("backfill --from 2026-01-01 --to 2026-01-31 --Transformer:Retention:Tables:raw_events:Days 1000 --Transformer:Retention:Tables:raw_events:Tenants:short 10", "the oldest day raw_events still holds for every tenant")]
    public async Task AWrongCommandExitsWithTwoAndSaysWhy(string command, string expected)
    {
        using var folder = Models();

        var (code, output) = await RunAsync([.. command.Split(' '), "--clickhouse", "Endpoint=http://127.0.0.1:1;Database=none", "--Transformer:ModelsPath", folder.Path]);

        Assert.Equal(2, code);
        Assert.Contains(expected, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RetentionDryRunPrintsThePlanAndChangesNothing()
    {
        var client = await clickHouse.NewDatabaseAsync("cliret");
        await RawEvents.InsertAsync(client, ("t1", "old", "open", "u1", "2020-01-05 10:00:00"), ("t1", "new", "open", "u1", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)));
        using var folder = Models();

        var (code, output) = await RunAsync("retention", "--dry-run", "--clickhouse", client.Settings.ToString(), "--Transformer:ModelsPath", folder.Path);

        Assert.Equal(0, code);
        Assert.Contains("raw_events: 180 days by event_time", output, StringComparison.Ordinal);
        Assert.Matches(@"drop_partition\s+raw_events\s+202001\s+all tenants", output);
        Assert.Equal("2", await client.QueryScalarAsync("SELECT count() FROM raw_events"));
        Assert.Equal("1", await client.QueryScalarAsync($"SELECT count() FROM retention_log WHERE dry_run = 1 AND partition = {ClickHouseSql.Literal("202001")}"));
    }
}
