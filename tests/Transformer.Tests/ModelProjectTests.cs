using Transformer.DataTests;
using Transformer.Models;

namespace Transformer.Tests;

public class ModelProjectTests
{
    private const string View = "/* materialized: view */\n";

    [Fact]
    public void ModelsAreOrderedSoEachComesAfterWhatItReads()
    {
        using var folder = new ModelFolder()
            .Add("marts/c.sql", View + "SELECT * FROM {{ ref('b') }} JOIN {{ ref('a') }} USING x")
            .Add("staging/a.sql", View + "SELECT * FROM {{ source('raw', 'raw_events') }}")
            .Add("marts/b.sql", View + "SELECT * FROM {{ ref('a') }}");

        var project = folder.Load();

        Assert.Equal(["a", "b", "c"], project.Models.Select(m => m.Name));
        Assert.Equal(["a", "b"], project["c"].DependsOn.Order());
        Assert.Equal("staging", project["a"].Layer);
    }

    [Theory]
    [InlineData("b", "b")]
    [InlineData("b+", "b c")]
    [InlineData("+b", "a b")]
    [InlineData("+c", "a b c")]
    [InlineData("a+", "a b c d")]
    [InlineData("group:heavy", "c d")]
    [InlineData("layer:staging", "a")]
    [InlineData("b, d", "b d")]
    [InlineData("*", "a b c d")]
    [InlineData(null, "a b c d")]
    public void SelectorsPickModelsInBuildOrder(string? selector, string expected)
    {
        using var folder = new ModelFolder()
            .Add("staging/a.sql", View + "SELECT 1 AS x")
            .Add("marts/b.sql", View + "SELECT * FROM {{ ref('a') }}")
            .Add("marts/c.sql", "/* \nmaterialized: view\ngroup: heavy\n*/\nSELECT * FROM {{ ref('b') }}")
            .Add("marts/d.sql", "/* \ngroup: heavy\n*/\nSELECT * FROM {{ ref('a') }}");

        var selected = folder.Load().Select(selector);

        Assert.Equal(expected, string.Join(' ', selected.Select(m => m.Name)));
    }

    [Theory]
    [InlineData("nope")]
    [InlineData("group:nope")]
    public void ASelectorNamingNothingIsAnError(string selector)
    {
        using var folder = new ModelFolder().Add("a.sql", View + "SELECT 1");

        Assert.Throws<SelectionException>(() => folder.Load().Select(selector));
    }

    [Theory]
    [InlineData("a.sql", "SELECT * FROM {{ ref('missing') }}", "ref('missing') names no model")]
    [InlineData("a.sql", "SELECT * FROM {{ source('raw', 'nope') }}", "source('raw', 'nope') is not declared")]
    [InlineData("a.sql", "SELECT {{ whatever }}", "Unknown placeholder '{{ whatever }}'")]
    [InlineData("a.sql", "/* materialized: fancy */ SELECT 1", "materialized 'fancy' is not one of")]
    [InlineData("a.sql", "/* colour: blue */ SELECT 1", "unknown setting 'colour'")]
    [InlineData("a.sql", "/* materialized: [ */ SELECT 1", "not valid YAML")]
    [InlineData("a.sql", "/* materialized: incremental */ SELECT 1", "needs time_column")]
    [InlineData("a.sql", "/*\nmaterialized: incremental\ntime_column: day\npartition_by: toYYYYMM(day)\n*/ SELECT 1", "is partitioned by its time_column")]
    [InlineData("a.sql", "/*\nmaterialized: view\norder_by: x\n*/ SELECT 1", "a view has no partition_by")]
    [InlineData("a.sql", "/*\nlookback_days: three\n*/ SELECT 1", "'lookback_days' must be a whole number")]
    [InlineData("a.sql", "/* materialized: view", "header comment is not closed")]
    [InlineData("a.sql", "/* materialized: view */", "has no SQL")]
    [InlineData("a-b.sql", "SELECT 1", "file name is its table name")]
    [InlineData("a.sql", "/*\ntests:\n  - not_null: [x]\n  - not_null: [x]\n*/ SELECT 1", "declared twice")]
    [InlineData("a.sql", "/*\ntests:\n  - exists: [x]\n*/ SELECT 1", "unknown test kind")]
    [InlineData("a.sql", "/*\ntests:\n  - not_null: ['x; DROP TABLE y']\n*/ SELECT 1", "is not a column name")]
    [InlineData("a.sql", "/*\ntests:\n  - relationships: { column: x, to: ghost, field: y }\n*/ SELECT 1", "ref('ghost') names no model")]
    [InlineData("a.sql", "/*\ntests:\n  - freshness: { column: t, max_age_minutes: 0 }\n*/ SELECT 1", "max_age_minutes must be a positive")]
    [InlineData("a.sql", "/*\nindex_granularity: 1024\n*/ SELECT 1", "index_granularity is for tables")]
    [InlineData("a.sql", "/*\nmaterialized: table\nindex_granularity: 100000\n*/ SELECT 1", "from 1 to 65536")]
    public void AModelThatCannotRunIsAnErrorAtLoadNamingItsFile(string file, string text, string expected)
    {
        using var folder = new ModelFolder().Add(file, text);

        var error = Assert.Throws<ModelLoadException>(folder.Load);

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains(file, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACycleIsAnErrorThatShowsTheCycle()
    {
        using var folder = new ModelFolder()
            .Add("a.sql", View + "SELECT * FROM {{ ref('c') }}")
            .Add("b.sql", View + "SELECT * FROM {{ ref('a') }}")
            .Add("c.sql", View + "SELECT * FROM {{ ref('b') }}");

        var error = Assert.Throws<ModelLoadException>(folder.Load);

        Assert.Contains("cycle: a -> c -> b -> a", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TwoModelsWithOneNameAreAnError()
    {
        using var folder = new ModelFolder().Add("staging/a.sql", "SELECT 1").Add("marts/a.sql", "SELECT 2");

        Assert.Contains("Two models are named 'a'", Assert.Throws<ModelLoadException>(folder.Load).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheHeaderSetsEveryOptionAndTheTests()
    {
        using var folder = new ModelFolder()
            .Add("b.sql", View + "SELECT 1 AS id")
            .Add("a.sql", """
                /*
                materialized: incremental
                time_column: day
                order_by: (tenant_id, day)
                engine: ReplacingMergeTree
                lookback_days: 5
                group: heavy
                retention_days: 730
                owner: growth
                description: Daily things.
                block_dependents_on_test_failure: true
                tests:
                  - not_null: [tenant_id, day]
                  - unique: { columns: [tenant_id, id], per: day }
                  - accepted_values: { column: kind, values: [x, "y'z"] }
                  - relationships: { column: id, to: b, field: id, tenant_column: "" }
                  - freshness: { column: day, max_age_minutes: 90 }
                  - sql: { name: no_negatives, query: "SELECT * FROM {{ this }} WHERE n < 0" }
                */
                SELECT 1
                """);

        var config = folder.Load()["a"].Config;

        Assert.Equal(Materialization.Incremental, config.Materialized);
        Assert.Equal(("day", "(tenant_id, day)", "ReplacingMergeTree", 5, "heavy", 730, "growth", true),
            (config.TimeColumn, config.OrderBy, config.Engine, config.LookbackDays, config.Group, config.RetentionDays, config.Owner, config.BlockDependentsOnTestFailure));
        Assert.Equal(
            ["not_null(tenant_id, day)", "unique(tenant_id, id) per day", "accepted_values(kind)", "relationships(id -> b.id)", "freshness(day < 90 min)", "no_negatives"],
            config.Tests.Select(t => t.Name));
        Assert.Equal(["x", "y'z"], Assert.IsType<AcceptedValuesTest>(config.Tests[2]).Values);
        Assert.Null(Assert.IsType<RelationshipsTest>(config.Tests[3]).TenantColumn);
    }

    [Fact]
    public void RenderingQuotesNamesAndFormatsTheWindow()
    {
        using var folder = new ModelFolder().Add("a.sql", "SELECT * FROM {{ source('raw', 'raw_events') }} WHERE t >= {{ window_start }} AND d < {{window_end_date}} AND x IN (SELECT x FROM {{ this }})");
        var model = folder.Load()["a"];

        var sql = model.Sql.Render(new RenderContext("analytics", "a", BuildWindow.Days(new DateOnly(2026, 11, 18), new DateOnly(2026, 11, 22))));

        Assert.Equal("SELECT * FROM `analytics`.`raw_events` WHERE t >= toDateTime('2026-11-18 00:00:00', 'UTC') AND d < toDate('2026-11-23') AND x IN (SELECT x FROM `analytics`.`a`)", sql);
    }

    [Fact]
    public void TheLookbackWindowRunsFromItsFirstDayToTheEndOfTomorrow()
    {
        var window = BuildWindow.Lookback(new DateTimeOffset(2026, 11, 21, 13, 5, 0, TimeSpan.Zero), 3);

        Assert.Equal([new DateOnly(2026, 11, 18), new DateOnly(2026, 11, 19), new DateOnly(2026, 11, 20), new DateOnly(2026, 11, 21), new DateOnly(2026, 11, 22)], window.EachDay());
        Assert.Equal("2026-11-18..2026-11-22", window.ToString());
    }
}
