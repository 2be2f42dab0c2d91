using System.Globalization;
using Platform.ClickHouse;
using Transformer.Models;

namespace Transformer.Building;

/// <summary>What one build did.</summary>
public sealed record BuildResult(long Rows, BuildWindow Window, string? Note = null);

/// <summary>
/// Builds one model into ClickHouse, atomically for readers: the new data is built beside the live
/// table (<c>model__build</c>) and only swapped in, by one RENAME or one partition replace per day,
/// once it is complete. A failed build drops what it built and leaves the live data as it was.
/// </summary>
public sealed class Materializer(ClickHouseClient client, TransformerOptions options, ILogger logger)
{
    private string Database => client.Settings.Database;

    /// <summary>
    /// Builds <paramref name="model"/>. <paramref name="window"/> narrows an incremental build
    /// (null: its lookback window at <paramref name="now"/>); <paramref name="fullRefresh"/> rebuilds everything.
    /// </summary>
    public async Task<BuildResult> BuildAsync(Model model, DateTimeOffset now, BuildWindow? window, bool fullRefresh, CancellationToken cancellationToken)
    {
        await DropIfExistsAsync(BuildTable(model), cancellationToken);
        try
        {
            return model.Config.Materialized switch
            {
                Materialization.View => await BuildViewAsync(model, cancellationToken),
                Materialization.Table => await BuildTableAsync(model, cancellationToken),
                Materialization.Incremental => await BuildIncrementalAsync(model, window ?? BuildWindow.Lookback(now, model.LookbackDays(options)), fullRefresh, cancellationToken),
                Materialization.Append => await BuildAppendAsync(model, fullRefresh, cancellationToken),
                _ => throw new InvalidOperationException($"Unknown materialization {model.Config.Materialized}."),
            };
        }
        finally
        {
            await TryDropBuildTableAsync(model);
        }
    }

    // EXISTS and SHOW CREATE read one table's metadata. A query on system.tables reads every table
    // of the database on 18.16, and fails when a parallel build drops its __old table meanwhile.
    public async Task<bool> ExistsAsync(string table, CancellationToken cancellationToken) =>
        await client.QueryScalarAsync($"EXISTS TABLE {Table(table)}", cancellationToken: cancellationToken) == "1";

    private async Task<BuildResult> BuildViewAsync(Model model, CancellationToken cancellationToken)
    {
        var sql = Render(model, BuildWindow.AllTime);
        await ExecuteAsync($"CREATE VIEW {Table(BuildTable(model))} AS {sql}", cancellationToken);
        await SwapInAsync(model, cancellationToken);
        return new BuildResult(0, BuildWindow.AllTime);
    }

    private async Task<BuildResult> BuildTableAsync(Model model, CancellationToken cancellationToken)
    {
        var rows = await CreateBuildTableAsync(model, BuildWindow.AllTime, cancellationToken);
        await SwapInAsync(model, cancellationToken);
        return new BuildResult(rows, BuildWindow.AllTime);
    }

    private async Task<BuildResult> BuildIncrementalAsync(Model model, BuildWindow window, bool fullRefresh, CancellationToken cancellationToken)
    {
        if (fullRefresh || !await ExistsAsync(model.Name, cancellationToken))
        {
            var all = await BuildTableAsync(model, cancellationToken);
            return all with { Note = fullRefresh ? "full refresh" : "first build" };
        }

        await CreateBuildTableAsync(model, window, cancellationToken);
        if (!await SameShapeAsync(model.Name, BuildTable(model), cancellationToken))
        {
            // The model's query changed its columns or keys: the days in the window cannot be
            // swapped into a table of another shape, so everything is rebuilt and swapped instead.
            logger.LogWarning("Model {Model} now yields another table shape than the live one; rebuilding it over all time", model.Name);
            await DropIfExistsAsync(BuildTable(model), cancellationToken);
            var all = await BuildTableAsync(model, cancellationToken);
            return all with { Note = "table shape changed: full rebuild" };
        }

        var timeColumn = ClickHouseSql.Identifier(model.Config.TimeColumn!);
        var rows = long.Parse(await client.QueryScalarAsync(
            $"SELECT count() FROM {Table(BuildTable(model))} WHERE {timeColumn} >= {ClickHouseSql.Literal(DateOnly.FromDateTime(window.Start.UtcDateTime))} AND {timeColumn} < {ClickHouseSql.Literal(DateOnly.FromDateTime(window.End.UtcDateTime))}",
            cancellationToken: cancellationToken), CultureInfo.InvariantCulture);

        // One partition per day: each REPLACE swaps a whole day atomically, and a day the new build has
        // no rows for becomes empty, as it should. Rows the query returned outside the window stay out.
        foreach (var day in window.EachDay())
        {
            await ExecuteAsync(
                $"ALTER TABLE {Table(model.Name)} REPLACE PARTITION {ClickHouseSql.Literal(day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))} FROM {Table(BuildTable(model))}",
                cancellationToken);
        }

        return new BuildResult(rows, window);
    }

    private async Task<BuildResult> BuildAppendAsync(Model model, bool fullRefresh, CancellationToken cancellationToken)
    {
        if (fullRefresh || !await ExistsAsync(model.Name, cancellationToken))
        {
            var all = await BuildTableAsync(model, cancellationToken);
            return all with { Note = fullRefresh ? "full refresh" : "first build" };
        }

        // The window starts at the newest time already appended: the query takes what is newer.
        var newest = await client.QueryScalarAsync(
            $"SELECT toUnixTimestamp(toDateTime(max({ClickHouseSql.Identifier(model.Config.TimeColumn!)}))) FROM {Table(model.Name)}",
            cancellationToken: cancellationToken);
        var window = new BuildWindow(DateTimeOffset.FromUnixTimeSeconds(long.Parse(newest, CultureInfo.InvariantCulture)), BuildWindow.AllTime.End);

        // Built apart first, so a failing query appends nothing, then moved in with one INSERT.
        var rows = await CreateBuildTableAsync(model, window, cancellationToken);
        if (rows > 0)
        {
            await ExecuteAsync($"INSERT INTO {Table(model.Name)} SELECT * FROM {Table(BuildTable(model))}", cancellationToken);
        }

        return new BuildResult(rows, window);
    }

    private async Task<long> CreateBuildTableAsync(Model model, BuildWindow window, CancellationToken cancellationToken)
    {
        var config = model.Config;
        var partition = config.PartitionBy ?? (config.Materialized == Materialization.Incremental ? config.TimeColumn : null);
        var ddl = $"CREATE TABLE {Table(BuildTable(model))} ENGINE = {config.Engine}"
            + (partition is null ? "" : $" PARTITION BY {partition}")
            + $" ORDER BY {config.OrderBy ?? "tuple()"}"
            + $" AS {Render(model, window)}";
        await ExecuteAsync(ddl, cancellationToken);
        return long.Parse(await client.QueryScalarAsync($"SELECT count() FROM {Table(BuildTable(model))}", cancellationToken: cancellationToken), CultureInfo.InvariantCulture);
    }

    /// <summary>Puts <c>model__build</c> in the live table's place with one RENAME (18.16 has no EXCHANGE TABLES), then drops the old one.</summary>
    private async Task SwapInAsync(Model model, CancellationToken cancellationToken)
    {
        var old = $"{model.Name}__old";
        await DropIfExistsAsync(old, cancellationToken);
        if (await ExistsAsync(model.Name, cancellationToken))
        {
            await ExecuteAsync($"RENAME TABLE {Table(model.Name)} TO {Table(old)}, {Table(BuildTable(model))} TO {Table(model.Name)}", cancellationToken);
            await DropIfExistsAsync(old, cancellationToken);
        }
        else
        {
            await ExecuteAsync($"RENAME TABLE {Table(BuildTable(model))} TO {Table(model.Name)}", cancellationToken);
        }
    }

    /// <summary>Same columns in the same order, same engine and keys: the CREATE statements agree past the table name.</summary>
    private async Task<bool> SameShapeAsync(string live, string built, CancellationToken cancellationToken)
    {
        async Task<string> ShapeAsync(string table)
        {
            var create = await client.QueryScalarAsync($"SHOW CREATE TABLE {Table(table)}", cancellationToken: cancellationToken);
            return create[Math.Max(0, create.IndexOf('(', StringComparison.Ordinal))..];
        }

        return await ShapeAsync(live) == await ShapeAsync(built);
    }

    private string Render(Model model, BuildWindow window) => model.Sql.Render(new RenderContext(Database, model.Name, window));

    private Task ExecuteAsync(string sql, CancellationToken cancellationToken) =>
        client.ExecuteAsync(sql, new ClickHouseQueryOptions { MaxExecutionTime = options.BuildTimeout }, cancellationToken);

    private Task DropIfExistsAsync(string table, CancellationToken cancellationToken) =>
        client.ExecuteAsync($"DROP TABLE IF EXISTS {Table(table)}", cancellationToken: cancellationToken);

    private async Task TryDropBuildTableAsync(Model model)
    {
        try
        {
            await DropIfExistsAsync(BuildTable(model), CancellationToken.None);
        }
        catch (Exception ex) when (ex is ClickHouseUnavailableException or ClickHouseServerException)
        {
            // A leftover is dropped before this model's next build; the build's own outcome matters more.
            logger.LogWarning("Could not drop {Table}: {Error}", BuildTable(model), ex.Message);
        }
    }

    private string Table(string name) => ClickHouseSql.Table(Database, name);

    private static string BuildTable(Model model) => $"{model.Name}__build";
}
