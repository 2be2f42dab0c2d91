using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Api.Alerts;
using Api.Querying;
using Platform.ClickHouse;
using Platform.Tenancy;

namespace Api.Metrics;

/// <summary>How fresh the caller's own data is, from the tenant's raw_events rows (every delivered copy).</summary>
/// <param name="NewestEventTime">The latest event time stored (null: no events).</param>
/// <param name="NewestReceivedAt">When the Collector accepted the latest stored delivery.</param>
/// <param name="NewestInsertedAt">When the latest delivery reached ClickHouse.</param>
/// <param name="SecondsSinceNewestInsert">Now minus <paramref name="NewestInsertedAt"/>: how long nothing new arrived for this tenant.</param>
/// <param name="IngestLagSeconds">Mean of inserted_at - received_at over deliveries received in the last 5 minutes and already stored
/// (Collector accept to ClickHouse insert, whole seconds at both ends); null when there were none. Deliveries still queued are not in
/// it: the platform's consumer lag says how many those are.</param>
/// <param name="MaxIngestLagSeconds">The largest such difference over the same deliveries.</param>
/// <param name="EventsLast5Minutes">Distinct event ids received in the last 5 minutes and already stored.</param>
public sealed record TenantPipelineHealth(
    DateTimeOffset? NewestEventTime, DateTimeOffset? NewestReceivedAt, DateTimeOffset? NewestInsertedAt, long? SecondsSinceNewestInsert,
    double? IngestLagSeconds, long? MaxIngestLagSeconds, long EventsLast5Minutes);

public sealed record PartitionLagStatus(string Topic, int Partition, long Lag);

/// <summary>The Ingestor's last Kafka consumer lag sample; <see cref="Error"/> says why the figures are null.</summary>
public sealed record ConsumerLagStatus(long? TotalLag, DateTimeOffset? SampledAt, IReadOnlyList<PartitionLagStatus> Partitions, IngestorCountersStatus? Counters, string? Error);

/// <summary>
/// The Ingestor's totals since it started. <see cref="DeadLettered"/> includes <see cref="RefusedByClickHouse"/>: rows the
/// server refused because of their data, isolated from their batch (the rest of it was stored).
/// </summary>
public sealed record IngestorCountersStatus(long Consumed, long Inserted, long DuplicatesDropped, long DeadLettered, long RefusedByClickHouse);

/// <summary>A model's latest build. <see cref="DurationMs"/> has whole-second resolution (the run log keeps seconds).</summary>
public sealed record TransformRunStatus(string Model, string Status, string Trigger, DateTimeOffset StartedAt, long DurationMs, long Rows, string? Error);

/// <summary>A data test whose latest result is not <c>passed</c>. No sample rows: they may hold any tenant's data.</summary>
public sealed record FailingDataTest(string Model, string Test, string Status, long Failures, DateTimeOffset CheckedAt);

public sealed record TableParts(string Table, long ActiveParts, long Rows);

/// <summary>An unfinished mutation; its command is left out (it may name a tenant, e.g. a retention delete).</summary>
public sealed record PendingMutation(string Table, string MutationId, DateTimeOffset CreatedAt, long PartsToDo);

public sealed record ClickHouseHealth(IReadOnlyList<TableParts> Tables, IReadOnlyList<PendingMutation> PendingMutations);

/// <param name="Services">The Collector, Ingestor and Transformer as the Api's <see cref="ServiceWatch"/> last saw them: up, starting, unready or down, and restarts.</param>
public sealed record PlatformPipelineHealth(
    IReadOnlyList<ServiceHealth> Services, ConsumerLagStatus ConsumerLag, IReadOnlyList<TransformRunStatus> TransformRuns, IReadOnlyList<FailingDataTest> FailingTests, ClickHouseHealth ClickHouse, CdcHealth Cdc);

/// <summary>One replicated table of the CDC bridge, as the Ingestor reports it (docs/cdc-apply.md). No row data.</summary>
public sealed record CdcTableHealth(
    string Table, string ClickHouseTable, string View, string Status, string? Error, string? SnapshotLsn, long SnapshotRows,
    long CapturedChanges, long AppliedChanges, string? AppliedLsn, DateTimeOffset? LastAppliedCommitTime, long? PendingChanges, double ApplyLagSeconds,
    string? LastLoss, long RefusedByClickHouse);

/// <summary>The replication slot's last sample: WAL position, the slot's confirmed position, and the WAL the server keeps for it.</summary>
public sealed record CdcSlotHealth(
    DateTimeOffset SampledAt, string WalLsn, string ConfirmedFlushLsn, string RestartLsn, bool Active, long RetainedBytes, long CaptureLagBytes);

/// <summary>
/// The CDC bridge (PostgreSQL -> Kafka -> ClickHouse), from the Ingestor's status: per table state and counts, the slot
/// sample, replication lag in bytes (WAL position vs applied) and apply lag in seconds. <see cref="Error"/> says why it is empty.
/// </summary>
public sealed record CdcHealth(
    bool Enabled, IReadOnlyList<CdcTableHealth> Tables, CdcSlotHealth? Slot, string? AppliedLsn, long? ReplicationLagBytes, double? ApplyLagSeconds,
    long DeadLettered, string? Error);

/// <summary>A rule as pipeline health shows it: its state and its latest webhook; no receiver URL (a Slack URL is a credential).</summary>
public sealed record AlertRuleHealth(long Id, string Name, string Metric, string Condition, double Threshold, AlertState State, AlertDelivery? LastDelivery);

/// <summary>
/// The caller's alert rules and the platform's, and the webhook queue: deliveries waiting to be sent or retried, and those
/// given up on in the last 24 hours. <see cref="Error"/> says why the lists are empty (PostgreSQL out of reach).
/// </summary>
public sealed record AlertsHealth(IReadOnlyList<AlertRuleHealth> TenantRules, IReadOnlyList<AlertRuleHealth> PlatformRules, long PendingDeliveries,
    long FailedDeliveriesLastDay, string? Error);

public sealed record PipelineHealthResponse(DateTimeOffset CheckedAt, TenantPipelineHealth Tenant, PlatformPipelineHealth Platform, AlertsHealth Alerts);

/// <summary>
/// Pipeline health: the caller's data freshness (tenant-scoped, through <see cref="TenantSources"/>) and
/// platform-wide state that holds no tenant data: the Ingestor's consumer lag, the Transformer's last
/// builds and failing data tests, ClickHouse parts and pending mutations. A table not there yet is an
/// empty list and an unreachable Ingestor a null lag with an error, never a failed answer.
/// </summary>
public sealed class PipelineHealthQuery(
    TenantSources sources, MetricsQueryRunner runner, ClickHouseClient clickHouse, IHttpClientFactory http, ServiceWatch services, AlertStore alerts, TimeProvider time)
{
    public const string IngestorClient = "ingestor";

    /// <summary>The window of <see cref="TenantPipelineHealth.EventsLast5Minutes"/> and the ingest lag mean.</summary>
    public static readonly TimeSpan RecentWindow = TimeSpan.FromMinutes(5);

    public async Task<PipelineHealthResponse> RunAsync(TenantScope scope, CancellationToken cancellationToken)
    {
        // Independent reads, started together: the answer takes as long as the slowest, not the sum.
        var now = time.GetUtcNow();
        var ingestor = IngestorStatusAsync(cancellationToken);
        var lag = ConsumerLagAsync(ingestor);
        var tenant = TenantAsync(scope, now, cancellationToken);
        var runs = TransformRunsAsync(cancellationToken);
        var tests = FailingTestsAsync(cancellationToken);
        var clickHouseHealth = ClickHouseAsync(cancellationToken);
        var alertsHealth = AlertsAsync(scope, now, cancellationToken);
        await Task.WhenAll(lag, tenant, runs, tests, clickHouseHealth, alertsHealth);
        return new PipelineHealthResponse(now, await tenant,
            new PlatformPipelineHealth(services.Current, await lag, await runs, await tests, await clickHouseHealth, Cdc(await ingestor)), await alertsHealth);
    }

    private async Task<AlertsHealth> AlertsAsync(TenantScope scope, DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            var rules = await alerts.VisibleToAsync(scope.TenantId, cancellationToken);
            var latest = await alerts.LatestDeliveriesAsync(rules.Select(r => r.Id).ToList(), cancellationToken);
            var (pending, failed) = await alerts.DeliveryCountsAsync(now.AddDays(-1), cancellationToken);
            List<AlertRuleHealth> Views(bool platform) => rules.Where(r => (r.TenantId is null) == platform)
                .Select(r => new AlertRuleHealth(r.Id, r.Name, r.Metric, r.Condition, r.Threshold, r.State, latest.GetValueOrDefault(r.Id))).ToList();
            return new AlertsHealth(Views(platform: false), Views(platform: true), pending, failed, null);
        }
        catch (Exception ex) when (TenantDirectory.IsStoreUnreachable(ex))
        {
            return new AlertsHealth([], [], 0, 0, $"The alert rules could not be read: {ex.Message}");
        }
    }

    private async Task<TenantPipelineHealth> TenantAsync(TenantScope scope, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var recent = $"received_at >= {MetricsSql.Instant(now - RecentWindow)}";
        var rows = await OrEmptyAsync(() => runner.QueryAsync(
            $"""
            SELECT toUInt32(max(event_time)) AS newest_event_time, toUInt32(max(received_at)) AS newest_received_at, toUInt32(max(inserted_at)) AS newest_inserted_at,
                   uniqExactIf(event_id, {recent}) AS recent_events, countIf({recent}) AS recent_rows,
                   sumIf(toInt64(inserted_at) - toInt64(received_at), {recent}) AS recent_lag_sum,
                   maxIf(toInt64(inserted_at) - toInt64(received_at), {recent}) AS recent_lag_max
            FROM {sources.Model(scope, "raw_events")}
            """, PipelineHealthJsonContext.Default.TenantRow, cancellationToken));
        var row = rows.FirstOrDefault() ?? new TenantRow(0, 0, 0, 0, 0, 0, 0);
        var newestInsert = Time(row.NewestInsertedAt);
        return new TenantPipelineHealth(
            Time(row.NewestEventTime), Time(row.NewestReceivedAt), newestInsert,
            newestInsert is { } inserted ? Math.Max(0, (long)(now - inserted).TotalSeconds) : null,
            row.RecentRows > 0 ? (double)row.RecentLagSum / row.RecentRows : null,
            row.RecentRows > 0 ? row.RecentLagMax : null,
            row.RecentEvents);
    }

    /// <summary>The Ingestor's <c>GET /v1/status</c>, read once for the consumer lag and the CDC part; an error says why it is missing.</summary>
    public async Task<(IngestorStatus? Status, string? Error)> IngestorStatusAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var client = http.CreateClient(IngestorClient);
            if (client.BaseAddress is null)
            {
                return (null, "The Ingestor's address is not configured (services:ingestor:http:0).");
            }

            var status = await client.GetFromJsonAsync("/v1/status", IngestorStatusJsonContext.Default.IngestorStatus, cancellationToken);
            return status is null ? (null, "The Ingestor answered an empty status.") : (status, null);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
        {
            return (null, $"The Ingestor's status could not be read: {ex.Message}");
        }
    }

    private static async Task<ConsumerLagStatus> ConsumerLagAsync(Task<(IngestorStatus? Status, string? Error)> ingestor)
    {
        var (status, error) = await ingestor;
        return status is null
            ? Unavailable(error!)
            : new ConsumerLagStatus(status.TotalLag, status.LagSampledAt, status.Partitions, status.Counters,
                status.LagSampledAt is null ? "The Ingestor has not sampled its consumer lag yet." : null);
    }

    private static CdcHealth Cdc((IngestorStatus? Status, string? Error) ingestor) => ingestor.Status?.Cdc is { } cdc
        ? new CdcHealth(cdc.Enabled, cdc.Tables, cdc.Slot, cdc.AppliedLsn, cdc.ReplicationLagBytes, cdc.ApplyLagSeconds, cdc.DeadLettered, null)
        : new CdcHealth(false, [], null, null, null, null, 0, ingestor.Error ?? "The Ingestor's status has no CDC part.");

    private static ConsumerLagStatus Unavailable(string error) => new(null, null, [], null, error);

    private async Task<IReadOnlyList<TransformRunStatus>> TransformRunsAsync(CancellationToken cancellationToken)
    {
        var rows = await OrEmptyAsync(() => runner.QueryAsync(
            $"""
            SELECT model, status, trigger, toUInt32(started_at) AS started, toInt64(finished_at) - toInt64(started_at) AS seconds, rows, error
            FROM {Table("transform_runs")}
            WHERE started_at >= now() - INTERVAL 30 DAY
            ORDER BY model, started_at DESC
            LIMIT 1 BY model
            """, PipelineHealthJsonContext.Default.RunRow, cancellationToken));
        return rows.Select(r => new TransformRunStatus(r.Model, r.Status, r.Trigger, DateTimeOffset.FromUnixTimeSeconds(r.Started), Math.Max(0, r.Seconds) * 1000, r.Rows,
            r.Error.Length > 0 ? r.Error : null)).ToList();
    }

    private async Task<IReadOnlyList<FailingDataTest>> FailingTestsAsync(CancellationToken cancellationToken)
    {
        var rows = await OrEmptyAsync(() => runner.QueryAsync(
            $"""
            SELECT model, test, status, failures, checked
            FROM
            (
                SELECT model, test, status, failures, toUInt32(checked_at) AS checked
                FROM {Table("transform_test_results")}
                WHERE checked_at >= now() - INTERVAL 30 DAY
                ORDER BY model, test, checked_at DESC
                LIMIT 1 BY model, test
            )
            WHERE status != 'passed'
            ORDER BY model, test
            """, PipelineHealthJsonContext.Default.TestRow, cancellationToken));
        return rows.Select(r => new FailingDataTest(r.Model, r.Test, r.Status, r.Failures, DateTimeOffset.FromUnixTimeSeconds(r.Checked))).ToList();
    }

    public async Task<ClickHouseHealth> ClickHouseAsync(CancellationToken cancellationToken)
    {
        var database = MetricsSql.Str(clickHouse.Settings.Database);
        var parts = runner.QueryAsync(
            $"""
            SELECT table, count() AS active_parts, sum(rows) AS total_rows
            FROM system.parts
            WHERE database = {database} AND active
            GROUP BY table
            ORDER BY table
            """, PipelineHealthJsonContext.Default.PartsRow, cancellationToken);
        var mutations = runner.QueryAsync(
            $"""
            SELECT table, mutation_id, toUInt32(create_time) AS created, parts_to_do
            FROM system.mutations
            WHERE database = {database} AND is_done = 0
            ORDER BY create_time
            """, PipelineHealthJsonContext.Default.MutationRow, cancellationToken);
        await Task.WhenAll(parts, mutations);
        return new ClickHouseHealth(
            (await parts).Select(p => new TableParts(p.Table, p.ActiveParts, p.TotalRows)).ToList(),
            (await mutations).Select(m => new PendingMutation(m.Table, m.MutationId, DateTimeOffset.FromUnixTimeSeconds(m.Created), m.PartsToDo)).ToList());
    }

    private string Table(string name) => ClickHouseSql.Table(clickHouse.Settings.Database, name);

    /// <summary>Before the Ingestor or the Transformer created a table, its part of the answer is empty.</summary>
    private static async Task<List<T>> OrEmptyAsync<T>(Func<Task<List<T>>> query)
    {
        try
        {
            return await query();
        }
        catch (ClickHouseServerException ex) when (ex.Code == ClickHouseErrorCodes.UnknownTable)
        {
            return [];
        }
    }

    private static DateTimeOffset? Time(long unixSeconds) => unixSeconds > 0 ? DateTimeOffset.FromUnixTimeSeconds(unixSeconds) : null;

    public sealed record TenantRow(long NewestEventTime, long NewestReceivedAt, long NewestInsertedAt, long RecentEvents, long RecentRows, long RecentLagSum, long RecentLagMax);

    public sealed record RunRow(string Model, string Status, string Trigger, long Started, long Seconds, long Rows, string Error);

    public sealed record TestRow(string Model, string Test, string Status, long Failures, long Checked);

    public sealed record PartsRow(string Table, long ActiveParts, long TotalRows);

    public sealed record MutationRow(string Table, string MutationId, long Created, long PartsToDo);

    /// <summary>The Ingestor's <c>GET /v1/status</c> (src/Ingestor/Apis/StatusApi.cs), as far as it is read here.</summary>
    public sealed record IngestorStatus(DateTimeOffset? LagSampledAt, long? TotalLag, List<PartitionLagStatus> Partitions, IngestorCountersStatus? Counters, IngestorCdcStatus? Cdc);

    /// <summary>The status's <c>cdc</c> part (src/Ingestor/Apis/StatusApi.cs <c>CdcStatus</c>).</summary>
    public sealed record IngestorCdcStatus(bool Enabled, List<CdcTableHealth> Tables, CdcSlotHealth? Slot, string? AppliedLsn, long? ReplicationLagBytes,
        double ApplyLagSeconds, long DeadLettered);
}

/// <summary>ClickHouse sends 64-bit integers as JSON strings.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, NumberHandling = JsonNumberHandling.AllowReadingFromString)]
[JsonSerializable(typeof(PipelineHealthQuery.TenantRow))]
[JsonSerializable(typeof(PipelineHealthQuery.RunRow))]
[JsonSerializable(typeof(PipelineHealthQuery.TestRow))]
[JsonSerializable(typeof(PipelineHealthQuery.PartsRow))]
[JsonSerializable(typeof(PipelineHealthQuery.MutationRow))]
internal sealed partial class PipelineHealthJsonContext : JsonSerializerContext;

/// <summary>The Ingestor answers with the Web defaults (camelCase).</summary>
[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(PipelineHealthQuery.IngestorStatus))]
internal sealed partial class IngestorStatusJsonContext : JsonSerializerContext;

public static class PipelineHealthRegistration
{
    /// <summary>The query and its client of the Ingestor's status, at the address the AppHost hands the Api (<c>services:ingestor:http:0</c>).</summary>
    public static void AddPipelineHealth(this Microsoft.Extensions.Hosting.IHostApplicationBuilder builder)
    {
        var address = builder.Configuration["services:ingestor:http:0"];
        builder.Services.AddHttpClient(PipelineHealthQuery.IngestorClient, client =>
        {
            client.BaseAddress = Uri.TryCreate(address, UriKind.Absolute, out var uri) ? uri : null;
            client.Timeout = TimeSpan.FromSeconds(2); // a slow Ingestor must not hold the health answer
        });
        builder.Services.AddHttpClient(ServiceWatch.ProbeClient, client => client.Timeout = TimeSpan.FromSeconds(1));
        builder.Services.AddSingleton<ServiceWatch>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ServiceWatch>());
        builder.Services.AddSingleton<PipelineHealthQuery>();
    }
}
