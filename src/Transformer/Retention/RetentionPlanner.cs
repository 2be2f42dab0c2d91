using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.ClickHouse;

namespace Transformer.Retention;

/// <summary>
/// Decides what a retention run removes, from what the server says about each table (partition key,
/// active parts, unfinished mutations) and row counts. A tenant's cutoff is today (UTC) minus its days
/// (its override, else the table's); rows before the cutoff are expired.
/// <list type="bullet">
/// <item>A partition is dropped when all its rows are expired: its last day is before the table's
/// cutoff and no tenant with a longer override has rows in it from on or after its own cutoff.</item>
/// <item>A tenant with a shorter override loses its rows before its cutoff wherever they are
/// (<c>ALTER TABLE ... DELETE</c>, a mutation).</item>
/// <item>In a partition kept alive by a longer override, every other tenant's rows are deleted, and
/// the longer tenant's rows before its own cutoff.</item>
/// <item>The partition holding the table's cutoff is not cut into: its expired rows go with it when
/// the whole partition expires, as partition-granular retention does.</item>
/// </list>
/// A delete is planned only while the rows are there and no unfinished mutation for that tenant is
/// queued on the table, so a second run plans nothing new.
/// </summary>
public sealed class RetentionPlanner(ClickHouseClient client, TimeProvider time, ILogger<RetentionPlanner>? logger = null)
{
    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;

    public async Task<IReadOnlyList<RetentionAction>> PlanAsync(IReadOnlyDictionary<string, TableRetention> tables, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tables);
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var actions = new List<RetentionAction>();
        foreach (var (table, retention) in tables.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            try
            {
                actions.AddRange(await PlanTableAsync(table, retention, today, ct));
            }
            catch (Exception ex) when (ex is RetentionConfigurationException or ArgumentException or ClickHouseServerException)
            {
                // One misconfigured or failing table must not keep the others from being cleaned.
                _logger.LogError(ex, "Retention skips {Table} this run: {Reason}", table, ex.Message);
            }
        }

        return actions;
    }

    private async Task<IReadOnlyList<RetentionAction>> PlanTableAsync(string table, TableRetention retention, DateOnly today, CancellationToken ct)
    {
        var target = ClickHouseSql.Table(client.Settings.Database, table);
        var tenantColumn = ClickHouseSql.Identifier(retention.TenantColumn);
        ClickHouseSql.Identifier(retention.TimeColumn);
        if (retention.Days < 1 || retention.Tenants.Any(t => t.Value < 1))
        {
            throw new RetentionConfigurationException($"retention days must be at least 1 (table {retention.Days}, tenants {string.Join(", ", retention.Tenants.Select(t => $"{t.Key}={t.Value}"))}).");
        }

        var inDatabase = $"database = {ClickHouseSql.Literal(client.Settings.Database)}";
        var tableInfo = await client.QueryAsync(
            $"SELECT partition_key FROM system.tables WHERE {inDatabase} AND name = {ClickHouseSql.Literal(table)}",
            RetentionJsonContext.Default.TableInfo, cancellationToken: ct);
        if (tableInfo.Count == 0)
        {
            _logger.LogInformation("Retention skips {Table}: the table does not exist", table);
            return [];
        }

        var ofTable = $"{inDatabase} AND table = {ClickHouseSql.Literal(table)}";
        var columns = await client.QueryAsync(
            $"SELECT name, type FROM system.columns WHERE {ofTable} AND name IN ({ClickHouseSql.List([retention.TimeColumn, retention.TenantColumn])})",
            RetentionJsonContext.Default.ColumnInfo, cancellationToken: ct);
        var timeType = columns.FirstOrDefault(c => c.Name == retention.TimeColumn)?.Type
            ?? throw new RetentionConfigurationException($"{table} has no column {retention.TimeColumn}.");
        if (columns.All(c => c.Name != retention.TenantColumn))
        {
            throw new RetentionConfigurationException($"{table} has no column {retention.TenantColumn}.");
        }

        var layout = PartitionLayout.Parse(tableInfo[0].PartitionKey, retention.TimeColumn, timeType)
            ?? throw new RetentionConfigurationException(
                $"{table} is partitioned by '{tableInfo[0].PartitionKey}'; retention needs toYYYYMM({retention.TimeColumn}), " +
                $"toYYYYMMDD({retention.TimeColumn}), toDate({retention.TimeColumn}) or a Date column {retention.TimeColumn}.");
        var timeColumn = ClickHouseSql.Identifier(retention.TimeColumn);
        var partitionId = layout.IdExpression;

        var partitions = new Dictionary<uint, long>();
        foreach (var part in await client.QueryAsync(
                     $"SELECT partition_id, sum(rows) AS rows FROM system.parts WHERE {ofTable} AND active GROUP BY partition_id",
                     RetentionJsonContext.Default.PartitionRows, cancellationToken: ct))
        {
            if (!layout.TryParseId(part.PartitionId, out var id))
            {
                throw new RetentionConfigurationException($"{table} has a partition '{part.PartitionId}' its key '{tableInfo[0].PartitionKey}' cannot have made.");
            }

            partitions[id] = part.Rows;
        }

        var cutoff = today.AddDays(-retention.Days);
        // Partitions that start before this day end before the cutoff: all their rows are expired by default.
        var boundary = layout.StartOf(cutoff);
        var longer = retention.Tenants.Where(t => t.Value > retention.Days).ToList();

        var expired = partitions.Keys.Where(id => layout.LastDay(id) < cutoff).ToHashSet();
        if (longer.Count > 0 && expired.Count > 0)
        {
            var stillKept = string.Join(" OR ", longer.Select(t =>
                $"({tenantColumn} = {ClickHouseSql.Literal(t.Key)} AND {timeColumn} >= {layout.TimeLiteral(today.AddDays(-t.Value))})"));
            var keptAlive = await client.QueryAsync(
                $"""
                SELECT toUInt32({partitionId}) AS id, count() AS rows
                FROM {target}
                WHERE {timeColumn} < {layout.TimeLiteral(boundary)} AND ({stillKept})
                GROUP BY id
                """,
                RetentionJsonContext.Default.PartitionCount, cancellationToken: ct);
            expired.ExceptWith(keptAlive.Where(p => p.Rows > 0).Select(p => p.Id));
        }

        var actions = expired.Order()
            .Select(id => new RetentionAction(table, RetentionAction.DropPartition, id.ToString(CultureInfo.InvariantCulture), null, cutoff, partitions[id])
            {
                Statement = $"ALTER TABLE {target} DROP PARTITION ID {ClickHouseSql.Literal(id.ToString(CultureInfo.InvariantCulture))}",
            })
            .ToList();

        // The day before which each tenant's rows are deleted where partitions are not dropped: its own
        // cutoff when shorter than the table's, otherwise only rows in partitions that end before the
        // table's cutoff (those a longer override keeps alive).
        var deleteBefore = retention.Tenants.ToDictionary(
            t => t.Key,
            t => t.Value < retention.Days ? today.AddDays(-t.Value) : Min(today.AddDays(-t.Value), boundary),
            StringComparer.Ordinal);
        var latest = deleteBefore.Values.Append(boundary).Max();
        if (!partitions.Keys.Any(id => !expired.Contains(id) && layout.FirstDay(id) < latest))
        {
            return actions;
        }

        var expiredRows = deleteBefore
            .Select(t => $"({tenantColumn} = {ClickHouseSql.Literal(t.Key)} AND {timeColumn} < {layout.TimeLiteral(t.Value)})")
            .Append(deleteBefore.Count == 0
                ? $"({timeColumn} < {layout.TimeLiteral(boundary)})"
                : $"({tenantColumn} NOT IN ({ClickHouseSql.List(deleteBefore.Keys)}) AND {timeColumn} < {layout.TimeLiteral(boundary)})");
        var notDropped = expired.Count == 0
            ? ""
            : $"AND {partitionId} NOT IN ({string.Join(", ", expired.Order().Select(id => id.ToString(CultureInfo.InvariantCulture)))})";
        var tenants = await client.QueryAsync(
            $"""
            SELECT toString({tenantColumn}) AS tenant, arraySort(groupUniqArray(toUInt32({partitionId}))) AS partitions, count() AS rows
            FROM {target}
            WHERE {timeColumn} < {layout.TimeLiteral(latest)} {notDropped}
              AND ({string.Join(" OR ", expiredRows)})
            GROUP BY tenant
            ORDER BY tenant
            """,
            RetentionJsonContext.Default.TenantRows, cancellationToken: ct);
        if (tenants.Count == 0)
        {
            return actions;
        }

        var pending = (await client.QueryAsync(
                $"SELECT command FROM system.mutations WHERE {ofTable} AND is_done = 0",
                RetentionJsonContext.Default.MutationInfo, cancellationToken: ct))
            .Select(m => m.Command)
            .ToList();
        foreach (var tenant in tenants.Where(t => t.Rows > 0))
        {
            var tenantLiteral = ClickHouseSql.Literal(tenant.Tenant);
            if (pending.Any(command => command.Contains(tenantLiteral, StringComparison.Ordinal)))
            {
                _logger.LogInformation("Retention waits for an unfinished mutation on {Table} for tenant {TenantId} before deleting its {Rows} expired rows", table, tenant.Tenant, tenant.Rows);
                continue;
            }

            var before = deleteBefore.GetValueOrDefault(tenant.Tenant, boundary);
            actions.Add(new RetentionAction(
                table, RetentionAction.DeleteRows, string.Join(",", tenant.Partitions), tenant.Tenant, before, tenant.Rows)
            {
                Statement = $"ALTER TABLE {target} DELETE WHERE {tenantColumn} = {tenantLiteral} AND {timeColumn} < {layout.TimeLiteral(before)}",
            });
        }

        return actions;
    }

    private static DateOnly Min(DateOnly a, DateOnly b) => a < b ? a : b;
}

/// <summary>A table's retention settings do not fit the table; the table is skipped until they are fixed.</summary>
public sealed class RetentionConfigurationException(string message) : Exception(message);
