using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ingestor.Cdc;
using Ingestor.Cdc.Apply;
using Ingestor.Consumption;
using Microsoft.Extensions.Options;

namespace Ingestor.Apis;

/// <summary>
/// What the Ingestor knows about its own progress: the last consumer lag sample (the one the
/// <c>ingestor.consumer.lag</c> gauge reports, taken every few seconds) and its counters since start,
/// and the CDC bridge's per-table state, slot sample and lag (docs/cdc-apply.md).
/// Read by the Api's pipeline health; no tenant data.
/// </summary>
public static class StatusApi
{
    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/status", (IngestorMetrics metrics, CdcState cdc, CdcApplyMetrics cdcMetrics, IOptions<CdcOptions> cdcOptions, TimeProvider time) =>
        {
            var lag = metrics.LastLag;
            return TypedResults.Ok(new IngestorStatus(
                lag?.SampledAt,
                lag?.Total,
                lag?.Partitions ?? [],
                new IngestorCounters(
                    metrics.Total("ingestor.events.consumed"),
                    metrics.Total("ingestor.events.inserted"),
                    metrics.Total("ingestor.events.duplicates_dropped"),
                    metrics.Total("ingestor.events.dead_lettered"),
                    metrics.Total("ingestor.events.refused_by_clickhouse")),
                CdcStatus.From(cdc, cdcMetrics, cdcOptions.Value, time.GetUtcNow())));
        }).WithTags("Status");
        return app;
    }
}

/// <summary><see cref="LagSampledAt"/> and <see cref="TotalLag"/> are null until the first sample (a few seconds after the consumer joined).</summary>
public sealed record IngestorStatus(DateTimeOffset? LagSampledAt, long? TotalLag, IReadOnlyList<PartitionLag> Partitions, IngestorCounters Counters, CdcStatus Cdc);

/// <summary>Totals since this process started.</summary>
public sealed record IngestorCounters(long Consumed, long Inserted, long DuplicatesDropped, long DeadLettered, long RefusedByClickHouse);

/// <summary>
/// The CDC bridge. LSNs are PostgreSQL's text form (<c>0/16B3748</c>). <see cref="ReplicationLagBytes"/> is the
/// slot's WAL position minus the applied position (null before the slot was sampled); <see cref="ApplyLagSeconds"/>
/// the largest table's apply lag. <see cref="DeadLettered"/> counts change records dead-lettered since start.
/// </summary>
public sealed record CdcStatus(
    bool Enabled, DateTimeOffset CheckedAt, IReadOnlyList<CdcTableStatusDto> Tables, CdcSlotStatus? Slot, string? AppliedLsn,
    long? ReplicationLagBytes, double ApplyLagSeconds, long DeadLettered, DateTimeOffset? PendingSampledAt)
{
    public static CdcStatus From(CdcState state, CdcApplyMetrics metrics, CdcOptions options, DateTimeOffset now)
    {
        var tables = state.Tables.Select(t => new CdcTableStatusDto(
            t.Table.QualifiedName, t.Table.ClickHouseTable, t.Table.ClickHouseView, t.Status.ToString().ToLowerInvariant(), t.Error,
            Lsn(t.SnapshotLsn), t.SnapshotRows, Interlocked.Read(ref t.CapturedChanges), Interlocked.Read(ref t.AppliedChanges),
            Lsn(t.AppliedLsn), t.LastAppliedCommitTime, metrics.PendingChanges(t.Table), Math.Round(metrics.ApplyLagSeconds(t), 3), t.LastLoss,
            Interlocked.Read(ref t.RefusedByClickHouse))).ToList();
        var slot = state.Slot is { } s
            ? new CdcSlotStatus(s.SampledAt, Lsn(s.WalLsn)!, Lsn(s.ConfirmedFlushLsn)!, Lsn(s.RestartLsn)!, s.Active, s.RetainedBytes, s.CaptureLagBytes)
            : null;
        return new CdcStatus(options.Enabled && options.Tables.Count > 0, now, tables, slot, Lsn(state.AppliedLsn),
            metrics.ReplicationLagBytes(), Math.Round(metrics.ApplyLagSeconds(), 3), metrics.DeadLetteredTotal, metrics.LagSampledAt);
    }

    /// <summary>An LSN as PostgreSQL writes it; null for none (0).</summary>
    public static string? Lsn(ulong? lsn) => lsn is { } value and > 0
        ? string.Create(CultureInfo.InvariantCulture, $"{value >> 32:X}/{value & 0xFFFFFFFF:X}")
        : null;
}

/// <param name="Status">pending, snapshotting, streaming, refused or stopped.</param>
/// <param name="PendingChanges">Records on the table's topic not yet applied and committed, at the last sample; null before it.</param>
/// <param name="ApplyLagSeconds">While changes wait: now minus the newest applied change's commit time; else 0 (docs/cdc-apply.md).</param>
/// <param name="RefusedByClickHouse">Changes ClickHouse refused because of their data since start (dead-lettered with its reason; counted in DeadLettered too).</param>
/// <param name="LastLoss">When Kafka last lost change records of the table that the slot had moved past, and how it showed; the table was snapshotted again.</param>
public sealed record CdcTableStatusDto(
    string Table, string ClickHouseTable, string View, string Status, string? Error, string? SnapshotLsn, long SnapshotRows,
    long CapturedChanges, long AppliedChanges, string? AppliedLsn, DateTimeOffset? LastAppliedCommitTime, long? PendingChanges, double ApplyLagSeconds,
    string? LastLoss, long RefusedByClickHouse);

public sealed record CdcSlotStatus(
    DateTimeOffset SampledAt, string WalLsn, string ConfirmedFlushLsn, string RestartLsn, bool Active, long RetainedBytes, long CaptureLagBytes);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(IngestorStatus))]
internal sealed partial class IngestorStatusJsonContext : JsonSerializerContext;
