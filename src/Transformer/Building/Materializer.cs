using System.Globalization;
using Platform.ClickHouse;
using Transformer.Models;

namespace Transformer.Building;

/// <summary>What one build did.</summary>
public sealed record BuildResult(long Rows, BuildWindow Window, string? Note = null);

/// <summary>
/// Builds one model into ClickHouse, atomically for readers: the new data is built beside the live
/// table (<c>model__build_STAMP</c>) and only swapped in, by one RENAME or one partition replace per
/// day, once it is complete. A failed build drops what it built and leaves the live data as it was.
/// Each build has its own side tables, so two builds of one model (the service's and an operator's
/// command) never drop each other's work; the later swap wins.
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
        await DropLeftoversAsync(model, now, cancellationToken);
        var build = new Build(model, now);
        try
        {
            return model.Config.Materialized switch
            {
                Materialization.View => await BuildViewAsync(build, cancellationToken),
                Materialization.Table => await BuildTableAsync(build, cancellationToken),
                Materialization.Incremental => await BuildIncrementalAsync(build, window ?? BuildWindow.Lookback(now, model.LookbackDays(options)), fullRefresh, cancellationToken),
                Materialization.Append => await BuildAppendAsync(build, fullRefresh, cancellationToken),
                _ => throw new InvalidOperationException($"Unknown materialization {model.Config.Materialized}."),
            };
        }
        finally
        {
            await TryDropAsync(build.Table);
        }
    }

    // EXISTS and SHOW CREATE read one table's metadata. A query on system.tables reads every table
    // of the database on 18.16, and fails when a parallel build drops its __old table meanwhile.
    public async Task<bool> ExistsAsync(string table, CancellationToken cancellationToken) =>
        await client.QueryScalarAsync($"EXISTS TABLE {Table(table)}", cancellationToken: cancellationToken) == "1";

    private async Task<BuildResult> BuildViewAsync(Build build, CancellationToken cancellationToken)
    {
        var sql = Render(build.Model, BuildWindow.AllTime);
        await ExecuteAsync($"CREATE VIEW {Table(build.Table)} AS {sql}", cancellationToken);
        await SwapInAsync(build, cancellationToken);
        return new BuildResult(0, BuildWindow.AllTime);
    }

    private async Task<BuildResult> BuildTableAsync(Build build, CancellationToken cancellationToken)
    {
        var rows = await CreateBuildTableAsync(build, BuildWindow.AllTime, cancellationToken);
        await SwapInAsync(build, cancellationToken);
        return new BuildResult(rows, BuildWindow.AllTime);
    }

    private async Task<BuildResult> BuildIncrementalAsync(Build build, BuildWindow window, bool fullRefresh, CancellationToken cancellationToken)
    {
        if (await BuildWholeIfDueAsync(build, fullRefresh, cancellationToken) is { } whole)
        {
            return whole;
        }

        await CreateBuildTableAsync(build, window, cancellationToken);
        if (!await SameShapeAsync(build.Model.Name, build.Table, cancellationToken))
        {
            // The model's query changed its columns or keys: the days in the window cannot be
            // swapped into a table of another shape, so everything is rebuilt and swapped instead.
            logger.LogWarning("Model {Model} now yields another table shape than the live one; rebuilding it over all time", build.Model.Name);
            await DropIfExistsAsync(build.Table, cancellationToken);
            var all = await BuildTableAsync(build, cancellationToken);
            return all with { Note = "table shape changed: full rebuild" };
        }

        var timeColumn = ClickHouseSql.Identifier(build.Model.Config.TimeColumn!);
        var rows = await client.QueryLongAsync(
            $"SELECT count() FROM {Table(build.Table)} WHERE {timeColumn} >= {ClickHouseSql.Literal(DateOnly.FromDateTime(window.Start.UtcDateTime))} AND {timeColumn} < {ClickHouseSql.Literal(DateOnly.FromDateTime(window.End.UtcDateTime))}",
            cancellationToken: cancellationToken);

        // One partition per day: each REPLACE swaps a whole day atomically, and a day the new build has
        // no rows for becomes empty, as it should. Rows the query returned outside the window stay out.
        foreach (var day in window.EachDay())
        {
            await ExecuteAsync(
                $"ALTER TABLE {Table(build.Model.Name)} REPLACE PARTITION {ClickHouseSql.Literal(day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))} FROM {Table(build.Table)}",
                cancellationToken);
        }

        return new BuildResult(rows, window);
    }

    private async Task<BuildResult> BuildAppendAsync(Build build, bool fullRefresh, CancellationToken cancellationToken)
    {
        if (await BuildWholeIfDueAsync(build, fullRefresh, cancellationToken) is { } whole)
        {
            return whole;
        }

        // The window starts at the newest time already appended: the query takes what is newer.
        var newest = await client.QueryLongAsync(
            $"SELECT toUnixTimestamp(toDateTime(max({ClickHouseSql.Identifier(build.Model.Config.TimeColumn!)}))) FROM {Table(build.Model.Name)}",
            cancellationToken: cancellationToken);
        var window = new BuildWindow(DateTimeOffset.FromUnixTimeSeconds(newest), BuildWindow.AllTime.End);

        // Built apart first, so a failing query appends nothing, then moved in with one INSERT.
        var rows = await CreateBuildTableAsync(build, window, cancellationToken);
        if (rows > 0)
        {
            await ExecuteAsync($"INSERT INTO {Table(build.Model.Name)} SELECT * FROM {Table(build.Table)}", cancellationToken);
        }

        return new BuildResult(rows, window);
    }

    /// <summary>An incremental or append model is built whole, like a table, on its first build and on a full refresh.</summary>
    private async Task<BuildResult?> BuildWholeIfDueAsync(Build build, bool fullRefresh, CancellationToken cancellationToken)
    {
        if (!fullRefresh && await ExistsAsync(build.Model.Name, cancellationToken))
        {
            return null;
        }

        var all = await BuildTableAsync(build, cancellationToken);
        return all with { Note = fullRefresh ? "full refresh" : "first build" };
    }

    private async Task<long> CreateBuildTableAsync(Build build, BuildWindow window, CancellationToken cancellationToken)
    {
        var config = build.Model.Config;
        var partition = config.PartitionBy ?? (config.Materialized == Materialization.Incremental ? config.TimeColumn : null);
        var ddl = $"CREATE TABLE {Table(build.Table)} ENGINE = {config.Engine}"
            + (partition is null ? "" : $" PARTITION BY {partition}")
            + $" ORDER BY {config.OrderBy ?? "tuple()"}"
            + (config.IndexGranularity is { } granularity ? $" SETTINGS index_granularity = {ClickHouseSql.Literal(granularity)}" : "")
            + $" AS {Render(build.Model, window)}";
        await ExecuteAsync(ddl, cancellationToken);
        return await client.QueryLongAsync($"SELECT count() FROM {Table(build.Table)}", cancellationToken: cancellationToken);
    }

    /// <summary>Puts the build table in the live table's place with one RENAME (18.16 has no EXCHANGE TABLES), then drops the old one.</summary>
    private async Task SwapInAsync(Build build, CancellationToken cancellationToken)
    {
        if (await ExistsAsync(build.Model.Name, cancellationToken))
        {
            await ExecuteAsync($"RENAME TABLE {Table(build.Model.Name)} TO {Table(build.Old)}, {Table(build.Table)} TO {Table(build.Model.Name)}", cancellationToken);
            await DropIfExistsAsync(build.Old, cancellationToken);
        }
        else
        {
            await ExecuteAsync($"RENAME TABLE {Table(build.Table)} TO {Table(build.Model.Name)}", cancellationToken);
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
        client.ExecuteAsync(sql, new ClickHouseQueryOptions { MaxExecutionTime = options.BuildTimeout, Settings = options.BuildSettings }, cancellationToken);

    private Task DropIfExistsAsync(string table, CancellationToken cancellationToken) =>
        client.ExecuteAsync($"DROP TABLE IF EXISTS {Table(table)}", cancellationToken: cancellationToken);

    private async Task TryDropAsync(string table)
    {
        try
        {
            await DropIfExistsAsync(table, CancellationToken.None);
        }
        catch (Exception ex) when (ex is ClickHouseUnavailableException or ClickHouseServerException)
        {
            // Dropped as a leftover by a later build; the build's own outcome matters more.
            logger.LogWarning("Could not drop {Table}: {Error}", table, ex.Message);
        }
    }

    /// <summary>
    /// Side tables of builds that died (a killed process) are dropped once they are older than any
    /// build may run. Only names are read: their creation time is in them.
    /// </summary>
    private async Task DropLeftoversAsync(Model model, DateTimeOffset now, CancellationToken cancellationToken)
    {
        string names;
        try
        {
            names = await client.QueryScalarAsync(
            $"SELECT arrayStringConcat(groupArray(name), ' ') FROM system.tables WHERE database = {ClickHouseSql.Literal(Database)} AND (startsWith(name, {ClickHouseSql.Literal(model.Name + "__build_")}) OR startsWith(name, {ClickHouseSql.Literal(model.Name + "__old_")}))",
            cancellationToken: cancellationToken);
        }
        catch (ClickHouseServerException ex)
        {
            logger.LogWarning("Could not look for leftovers of {Model}'s builds: {Error}", model.Name, ex.Message);
            return;
        }

        foreach (var name in names.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (now - Build.StartedAt(name) > options.BuildTimeout + TimeSpan.FromMinutes(5))
            {
                logger.LogWarning("Dropping {Table}, left by a build that did not finish", name);
                await TryDropAsync(name);
            }
        }
    }

    /// <summary>One build's side tables: <c>model__build_SECONDS_RANDOM</c> and <c>model__old_SECONDS_RANDOM</c>.</summary>
    private sealed record Build(Model Model, string Suffix)
    {
        public Build(Model model, DateTimeOffset now)
            : this(model, $"{now.ToUnixTimeSeconds()}_{Random.Shared.Next(0x10000):x4}")
        {
        }

        public string Table => $"{Model.Name}__build_{Suffix}";

        public string Old => $"{Model.Name}__old_{Suffix}";

        /// <summary>When the build that named a side table started; the distant past for a name not made here.</summary>
        public static DateTimeOffset StartedAt(string sideTable) =>
            sideTable[(sideTable.LastIndexOf("__", StringComparison.Ordinal) + 2)..].Split('_') is [_, var seconds, _]
            && long.TryParse(seconds, NumberStyles.None, CultureInfo.InvariantCulture, out var unix)
                ? DateTimeOffset.FromUnixTimeSeconds(unix) : DateTimeOffset.MinValue;
    }

    private string Table(string name) => ClickHouseSql.Table(Database, name);
}
