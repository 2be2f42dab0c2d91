using Microsoft.Extensions.Logging;
using Platform.ClickHouse;

namespace Transformer.Retention;

/// <summary>
/// Carries out a retention plan: drops first, then deletes, each on its own so one failure does not
/// stop the others. Every action, done, failed or only planned (dry run), is logged and recorded in
/// <c>retention_log</c>.
/// </summary>
public sealed class RetentionRunner(ClickHouseClient client, RetentionPlanner planner, ILogger<RetentionRunner> logger, TimeProvider time)
{
    public async Task<IReadOnlyList<RetentionAction>> RunAsync(IReadOnlyDictionary<string, TableRetention> tables, bool dryRun, CancellationToken ct)
    {
        var actions = await planner.PlanAsync(tables, ct);
        await ExecuteAsync(actions, dryRun, ct);
        return actions;
    }

    /// <summary>Carries out planned actions in order, each on its own, and records them all.</summary>
    internal async Task ExecuteAsync(IReadOnlyList<RetentionAction> actions, bool dryRun, CancellationToken ct)
    {
        var runAt = time.GetUtcNow().ToUnixTimeSeconds();
        var records = new List<RetentionLogRow>(actions.Count);
        foreach (var action in actions)
        {
            var error = "";
            if (!dryRun)
            {
                try
                {
                    await client.ExecuteAsync(action.Statement, cancellationToken: ct);
                }
                catch (Exception ex) when (ex is ClickHouseServerException or ClickHouseUnavailableException
                                               || (ex is OperationCanceledException && !ct.IsCancellationRequested))
                {
                    error = ex.Message;
                    logger.LogError(ex, "Retention {Action} failed on {Table} partition {Partition} tenant {TenantId} cutoff {Cutoff} rows {Rows}",
                        action.Action, action.Table, action.Partition, action.TenantId, action.Cutoff, action.Rows);
                }
            }

            if (error.Length == 0)
            {
                logger.LogInformation("Retention {Verb} {Action} on {Table} partition {Partition} tenant {TenantId} cutoff {Cutoff} rows {Rows}",
                    dryRun ? "would run" : "ran", action.Action, action.Table, action.Partition, action.TenantId, action.Cutoff, action.Rows);
            }

            records.Add(new RetentionLogRow(
                runAt, action.Table, action.Action, action.Partition, action.TenantId ?? "",
                action.Cutoff.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), action.Rows, dryRun ? 1 : 0, error));
        }

        await client.InsertAsync($"{client.Database}.{ClickHouseSql.Identifier("retention_log")}", records, RetentionJsonContext.Default.RetentionLogRow, ct);
    }
}
