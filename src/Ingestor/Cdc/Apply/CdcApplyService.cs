using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Confluent.Kafka;
using Ingestor.Schema;
using Microsoft.Extensions.Options;
using Platform.Events;
using Platform.Kafka;

namespace Ingestor.Cdc.Apply;

/// <summary>
/// Kafka -> ClickHouse for the CDC bridge. Reads the configured tables' change topics in its own consumer
/// group, batches per table, applies each batch to <c>cdc_{table}</c> (creating or extending it from the
/// envelopes' columns), and commits offsets only after ClickHouse acknowledged: a crash anywhere leads to
/// redelivery, and a redelivered change is harmless (ReplacingMergeTree keeps the highest version).
/// A table whose batch cannot be applied is paused and retried with backoff; other tables go on. A dropped or
/// retyped column stops its table (status Stopped, partitions paused, nothing committed past the change).
/// Records it cannot use go to the dead-letter topic with the reason, and are committed.
/// </summary>
public sealed class CdcApplyService(
    CdcClickHouse store,
    IProducer<byte[], byte[]> producer,
    SchemaState schema,
    CdcState state,
    CdcApplyMetrics metrics,
    IOptions<CdcOptions> cdcOptions,
    IOptions<CdcApplyOptions> applyOptions,
    IConfiguration configuration,
    TimeProvider time,
    ILogger<CdcApplyService> logger) : BackgroundService
{
    public const string TableHeader = "cdc-table";

    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan PausedPoll = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LagSampleInterval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan BrokerQueryTimeout = TimeSpan.FromSeconds(2);

    private readonly Dictionary<string, TableApply> _byTopic = new(StringComparer.Ordinal);
    private readonly OwedCommits _owed = new(time, TimeSpan.FromSeconds(1), logger);

    // What this member committed, per partition: the lag sample's floor when the brokers answer "no offset" during a rebalance.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<TopicPartition, long> _committed = new();
    private string _tenantId = "";

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // Consume() blocks; give the loop its own thread rather than a pool thread.
        Task.Factory.StartNew(() => RunAsync(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        var options = cdcOptions.Value;
        var tables = options.Tables.Select(t => CdcTable.TryParse(t, out var table) ? table : null).OfType<CdcTable>().Distinct().ToList();
        if (!options.Enabled || tables.Count == 0)
        {
            logger.LogInformation("CDC apply is idle: {Reason}", options.Enabled ? "Cdc:Tables lists no table" : "Cdc:Enabled is false");
            return;
        }

        if (options.TenantId is not { Length: > 0 } tenantId)
        {
            const string error = "Cdc:TenantId is not set: the bridge does not know which tenant the replicated rows belong to; apply is off.";
            logger.LogError(error);
            foreach (var table in tables)
            {
                state.Table(table).Set(CdcTableStatus.Stopped, error);
            }

            return;
        }

        _tenantId = tenantId;
        foreach (var table in tables)
        {
            state.Table(table); // listed in the status from the start
            _byTopic[table.Topic(options.TopicPrefix)] = new TableApply(table, table.Topic(options.TopicPrefix));
        }

        try
        {
            await schema.WaitAsync(stoppingToken);
            await LoadProgressAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        var bootstrap = KafkaConfig.Bootstrap(configuration.GetConnectionString("kafka")!);
        var config = KafkaConfig.Consumer(bootstrap, options.ConsumerGroup, "ingestor-cdc");

        // A table's topic appears when the capture side first writes to it, possibly after this consumer subscribed:
        // ask the brokers often enough to notice within seconds, and let the subscription create a missing topic.
        config.TopicMetadataRefreshIntervalMs = 5_000;
        config.AllowAutoCreateTopics = true;
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config)
            .SetLogHandler((_, m) => logger.Log(KafkaLog.Level(m.Level), "{Facility}: {Message}", m.Facility, m.Message))
            .SetErrorHandler((_, e) => logger.Log(e.Code == ErrorCode.UnknownTopicOrPart ? LogLevel.Debug : LogLevel.Warning, "Kafka CDC consumer error {Code}: {Reason}", e.Code, e.Reason))
            .SetPartitionsRevokedHandler((_, revoked) => OnPartitionsRevoked(revoked))
            .Build();
        consumer.Subscribe(_byTopic.Keys);
        logger.LogInformation("Applying CDC topics {Topics} as group {Group} for tenant {Tenant}", string.Join(", ", _byTopic.Keys), options.ConsumerGroup, tenantId);

        using var stopLagSampling = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var lagSampling = Task.Run(() => SampleLagAsync(consumer, bootstrap, options.ConsumerGroup, stopLagSampling.Token), CancellationToken.None);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                PauseHeldTables(consumer);
                var wait = NextWait();
                if (wait > TimeSpan.Zero && Consume(consumer, wait) is { } result)
                {
                    Add(result);
                }

                foreach (var table in _byTopic.Values.Where(IsDue).ToList())
                {
                    await TryApplyAsync(consumer, table, stoppingToken);
                }

                RecordCommitted(_owed.RetryIfDue(consumer));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            await stopLagSampling.CancelAsync();

            // Shutdown: apply what was read if ClickHouse takes it promptly; whatever is not applied is read again after the restart.
            using var shutdown = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            foreach (var table in _byTopic.Values.Where(t => t.Batch.Count > 0 && !t.Stopped))
            {
                await TryApplyAsync(consumer, table, shutdown.Token);
            }

            await lagSampling;
            consumer.Close();
        }
    }

    /// <summary>What ClickHouse already holds (highest version, its commit time), so the status is right after a restart.</summary>
    private async Task LoadProgressAsync(CancellationToken cancellationToken)
    {
        foreach (var apply in _byTopic.Values)
        {
            try
            {
                var (version, commitTime) = await store.LastAppliedAsync(apply.Table, cancellationToken);
                var tableState = state.Table(apply.Table);
                tableState.AppliedLsn = Math.Max(tableState.AppliedLsn, version);
                tableState.LastAppliedCommitTime ??= commitTime;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning("Could not read {Table}'s applied position from ClickHouse: {Error}", apply.Table.ClickHouseTable, ex.Message);
            }
        }
    }

    private TimeSpan NextWait()
    {
        var wait = IdlePoll;
        var age = applyOptions.Value.BatchMaxDelay;
        foreach (var table in _byTopic.Values.Where(t => !t.Stopped))
        {
            var next = table.Outage is { } outage ? outage.UntilNextAttemptAtMost(PausedPoll)
                : table.Batch.Count == 0 ? IdlePoll
                : age - table.Age;
            wait = next < wait ? next : wait;
        }

        return wait;
    }

    private bool IsDue(TableApply table) =>
        !table.Stopped && (table.Outage is { } outage
            ? outage.UntilNextAttempt <= TimeSpan.Zero
            : table.Batch.Count > 0 && (table.Batch.Count >= applyOptions.Value.BatchMaxRows || table.Age >= applyOptions.Value.BatchMaxDelay));

    private ConsumeResult<byte[], byte[]>? Consume(IConsumer<byte[], byte[]> consumer, TimeSpan wait)
    {
        try
        {
            return consumer.Consume(wait) is { IsPartitionEOF: false, Message: not null } result ? result : null;
        }
        catch (ConsumeException ex) when (!ex.Error.IsFatal)
        {
            if (ex.Error.Code != ErrorCode.UnknownTopicOrPart)
            {
                logger.LogWarning("CDC consume failed, continuing: {Error}", ex.Error.Reason);
            }

            return null;
        }
    }

    private void Add(ConsumeResult<byte[], byte[]> result)
    {
        if (!_byTopic.TryGetValue(result.Topic, out var table) || table.Stopped)
        {
            // A stopped table's records are neither applied nor committed: they wait for the operator (docs/cdc-apply.md).
            return;
        }

        table.Add(CdcChange.Parse(result, table.Table, _tenantId));
    }

    private async Task TryApplyAsync(IConsumer<byte[], byte[]> consumer, TableApply table, CancellationToken stoppingToken)
    {
        var settings = applyOptions.Value;
        try
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            attempt.CancelAfter(settings.ApplyTimeout);
            table.Plan ??= await PlanAsync(table, attempt.Token);
            await StoreAsync(table, table.Plan, attempt.Token);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            // Whatever failed (an outage, a refused statement, a bug), only this table waits; its next attempt re-reads its schema.
            table.Schema = null;
            var level = ex is Platform.ClickHouse.ClickHouseServerException { IsQueryError: true } or not (Platform.ClickHouse.ClickHouseUnavailableException or HttpRequestException or KafkaException or OperationCanceledException)
                ? LogLevel.Error : LogLevel.Warning;
            if (table.Outage is null)
            {
                table.Outage = new Outage(FirstRetryDelay);
                PauseTable(consumer, table);
                logger.Log(level, ex, "CDC batch of {Records} changes to {Table} not applied; paused its partitions, retrying in {Delay}: {Error}",
                    table.Batch.Count, table.Table.ClickHouseTable, table.Outage.Delay, ex.Message);
            }
            else
            {
                table.Outage.Failed(settings.MaxRetryDelay);
                logger.Log(level, "CDC batch of {Records} changes to {Table} still not applied after {Attempts} attempts in {Duration}, retrying in {Delay}: {Error}",
                    table.Batch.Count, table.Table.ClickHouseTable, table.Outage.Attempts, table.Outage.Duration, table.Outage.Delay, ex.Message);
            }

            return;
        }
        catch (OperationCanceledException)
        {
            return; // shutting down: nothing is committed, the batch is read again after the restart
        }

        var plan = table.Plan;
        Commit(consumer, table, plan);
        var tableState = state.Table(table.Table);
        if (plan.Applied > 0)
        {
            Interlocked.Add(ref tableState.AppliedChanges, plan.Applied);
            tableState.AppliedLsn = Math.Max(tableState.AppliedLsn, plan.MaxVersion);
            if (tableState.LastAppliedCommitTime is not { } last || plan.MaxCommitTime > last)
            {
                tableState.LastAppliedCommitTime = plan.MaxCommitTime;
            }

            metrics.Applied.Add(plan.Applied, new KeyValuePair<string, object?>("cdc.table", table.Table.QualifiedName));
        }

        table.Plan = null;
        table.RemoveApplied(plan.Records);
        if (plan.StopReason is { } reason)
        {
            table.Stopped = true;
            table.Clear();
            tableState.Set(CdcTableStatus.Stopped, reason);
            PauseTable(consumer, table);
            logger.LogError("CDC apply of {Table} stopped: {Reason}", table.Table.QualifiedName, reason);
        }

        if (table.Outage is not null)
        {
            logger.LogInformation("CDC batch of {Table} applied after {Attempts} attempts in {Duration}; resuming its partitions",
                table.Table.ClickHouseTable, table.Outage.Attempts + 1, table.Outage.Duration);
            table.Outage = null;
            if (!table.Stopped)
            {
                ResumeTable(consumer, table);
            }
        }
    }

    /// <summary>
    /// Turns the batch's records into rows, running the DDL they need on the way (create, add column) and
    /// deciding where the table stops (a dropped or retyped column). Everything it does is safe to repeat.
    /// </summary>
    private async Task<ApplyPlan> PlanAsync(TableApply table, CancellationToken cancellationToken)
    {
        var plan = new ApplyPlan(table.Batch.Count);
        if (!table.SchemaLoaded)
        {
            table.Schema = await store.LoadAsync(table.Table, cancellationToken);
            table.SchemaLoaded = true;
        }

        // The newest row built per key in this batch: an update's unchanged values come from it before ClickHouse is asked.
        var latest = new Dictionary<string, (ulong Version, JsonObject Row)>(StringComparer.Ordinal);
        foreach (var change in table.Batch.Take(plan.Records))
        {
            if (plan.StopReason is not null)
            {
                plan.Hold(change.Record);
                continue;
            }

            if (change.Envelope is not { } envelope)
            {
                plan.Done(change.Record);
                plan.DeadLetters.Enqueue((DeadLetter(change, table.Table, change.Refusal!), false));
                continue;
            }

            if (await EnsureSchemaAsync(table, envelope, cancellationToken) is { } stop)
            {
                plan.StopReason = stop;
                plan.Hold(change.Record);
                continue;
            }

            plan.Done(change.Record);
            plan.Applied++;
            if (change.IsTruncate)
            {
                // Rows built before it are hidden by it; none of them may lend an update its unchanged values.
                plan.Truncations.Add(TruncationRow(table, envelope));
                plan.TruncationBySnapshot = envelope.Source.Snapshot;
                plan.TruncatedSchema = table.Schema;
                latest.Clear();
            }
            else
            {
                var row = await BuildRowAsync(table, change, latest, cancellationToken);
                plan.Rows.Add(row);
                plan.RowChanges.Add(change);
                if (!latest.TryGetValue(change.KeyText, out var previous) || previous.Version <= envelope.Source.Version)
                {
                    latest[change.KeyText] = (envelope.Source.Version, row);
                }
            }

            plan.MaxVersion = Math.Max(plan.MaxVersion, envelope.Source.Version);
            plan.MaxCommitTime = envelope.Source.CommitTime > plan.MaxCommitTime ? envelope.Source.CommitTime : plan.MaxCommitTime;
        }

        return plan;
    }

    /// <summary>Creates or extends the table for this envelope's columns; the stop reason when it cannot take them safely.</summary>
    private async Task<string?> EnsureSchemaAsync(TableApply table, ChangeEnvelope envelope, CancellationToken cancellationToken)
    {
        var lsn = envelope.Source.Lsn ?? envelope.Source.Version.ToString(CultureInfo.InvariantCulture);
        if (table.Schema is null || table.Schema.Columns.Count == 0)
        {
            if (CdcTableSchema.NameProblem(table.Table, envelope.Columns, lsn) is { } problem)
            {
                return problem;
            }

            var adopting = table.Schema is not null;
            table.Schema = adopting
                ? await store.AdoptAsync(table.Table, envelope.Columns, cancellationToken)
                : await store.CreateAsync(table.Table, envelope.Columns, cancellationToken);
            logger.LogInformation("CDC {Action} {Table} and {View} with columns {Columns}", adopting ? "adopted" : "created",
                table.Table.ClickHouseTable, table.Table.ClickHouseView, string.Join(", ", envelope.Columns.Select(c => $"{c.Name} {CdcTypes.Describe(c.Type, c.TypeModifier)}")));
            return null;
        }

        var check = table.Schema.Check(table.Table, envelope.Columns, lsn);
        if (check.StopReason is not null)
        {
            return check.StopReason;
        }

        if (check.Added.Count > 0)
        {
            table.Schema = await store.AddColumnsAsync(table.Table, table.Schema, check.Added, cancellationToken);
            logger.LogInformation("CDC added {Columns} to {Table} and recreated {View}", string.Join(", ", check.Added.Select(c => c.Name)),
                table.Table.ClickHouseTable, table.Table.ClickHouseView);
        }

        return null;
    }

    private async Task<JsonObject> BuildRowAsync(TableApply table, CdcChange change, Dictionary<string, (ulong Version, JsonObject Row)> latest, CancellationToken cancellationToken)
    {
        var envelope = change.Envelope!;
        var source = envelope.Source;
        var row = new JsonObject { ["tenant_id"] = _tenantId };
        foreach (var (name, value) in change.Key)
        {
            row[name] = value?.DeepClone();
        }

        if (!change.IsDelete)
        {
            foreach (var (name, value) in change.Values)
            {
                row[name] = value?.DeepClone();
            }

            if (change.Unchanged.Count > 0)
            {
                // Unchanged TOASTed values: keep what is stored for this row, from this batch or from ClickHouse.
                JsonObject? stored = latest.TryGetValue(change.KeyText, out var previous) && previous.Version < source.Version
                    ? previous.Row
                    : await store.LookupAsync(table.Table, _tenantId, change.Key, source.Version, change.Unchanged, cancellationToken);
                if (stored is null)
                {
                    logger.LogWarning("CDC update of {Table} at LSN {Lsn} left {Columns} unchanged, but no earlier version of the row is stored; they are stored as NULL",
                        table.Table.QualifiedName, source.Lsn, string.Join(", ", change.Unchanged));
                }

                foreach (var name in change.Unchanged)
                {
                    row[name] = stored?[name]?.DeepClone();
                }
            }
        }

        row["_version"] = source.Version;
        row["is_deleted"] = change.IsDelete ? 1 : 0;
        row["_op"] = envelope.Op;
        row["_lsn"] = source.Lsn ?? "";
        row["_commit_time"] = DateTimeValue(source.CommitTime);
        row["_tx_id"] = source.TxId ?? 0;
        row["_applied_at"] = DateTimeValue(time.GetUtcNow());
        return row;
    }

    private JsonObject TruncationRow(TableApply table, ChangeEnvelope envelope) => new()
    {
        ["table_name"] = table.Table.ClickHouseTable,
        ["tenant_id"] = _tenantId,
        ["_version"] = envelope.Source.Version,
        ["_lsn"] = envelope.Source.Lsn ?? "",
        ["_commit_time"] = DateTimeValue(envelope.Source.CommitTime),
        ["_applied_at"] = DateTimeValue(time.GetUtcNow()),
    };

    /// <summary>A DateTime('UTC') column's value as JSONEachRow takes it (whole seconds).</summary>
    private static string DateTimeValue(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>Inserts the plan's rows and truncations (once), then sends its dead letters; what succeeded is not repeated by a retry.</summary>
    private async Task StoreAsync(TableApply table, ApplyPlan plan, CancellationToken cancellationToken)
    {
        if (plan.Rows.Count > 0)
        {
            await InsertIsolatingRefusedRowsAsync(table, plan, 0, plan.Rows.Count, cancellationToken);
            plan.Rows.Clear();
            plan.RowChanges.Clear();
        }

        if (plan.Truncations.Count > 0)
        {
            // Versions decide, so the order against the rows does not matter: a row from before a truncation stays hidden whenever it lands.
            await store.InsertTruncationsAsync(table.Table, plan.TruncatedSchema!, plan.Truncations, cancellationToken);
            logger.LogInformation("CDC {What} of {Table} applied at LSN {Lsn}: {View} holds only rows written after it",
                plan.TruncationBySnapshot ? "snapshot (hiding older rows)" : "TRUNCATE", table.Table.QualifiedName, plan.Truncations[^1]["_lsn"], table.Table.ClickHouseView);
            plan.Truncations.Clear();
        }

        var topic = applyOptions.Value.DeadLetterTopic;
        while (plan.DeadLetters.TryPeek(out var deadLetter))
        {
            await producer.ProduceAsync(topic, deadLetter.Message, cancellationToken);
            plan.DeadLetters.Dequeue();
            metrics.CountDeadLetter(table.Table);
            if (deadLetter.RefusedByClickHouse)
            {
                Interlocked.Increment(ref state.Table(table.Table).RefusedByClickHouse);
            }
        }
    }

    /// <summary>
    /// Inserts the plan's rows [start, start + count). When ClickHouse refuses them because of the data, halves the range
    /// until the refused rows stand alone, stores the rest and dead-letters those with the server's reason: one bad row
    /// costs a few extra inserts rather than pausing its table. Any other failure propagates and the table retries
    /// (rows stored before it are stored again, which changes nothing: the highest version wins).
    /// </summary>
    private async Task InsertIsolatingRefusedRowsAsync(TableApply table, ApplyPlan plan, int start, int count, CancellationToken cancellationToken)
    {
        try
        {
            await store.InsertAsync(table.Table, start == 0 && count == plan.Rows.Count ? plan.Rows : plan.Rows.GetRange(start, count), cancellationToken);
        }
        catch (Platform.ClickHouse.ClickHouseServerException ex) when (ex.IsDataError)
        {
            if (count > 1)
            {
                var half = count / 2;
                await InsertIsolatingRefusedRowsAsync(table, plan, start, half, cancellationToken);
                await InsertIsolatingRefusedRowsAsync(table, plan, start + half, count - half, cancellationToken);
                return;
            }

            // A retry of the whole plan meets the same row again: refuse it once.
            if (plan.Refused.Add(start))
            {
                var change = plan.RowChanges[start];
                plan.Applied--;
                plan.DeadLetters.Enqueue((DeadLetter(change, table.Table, "ClickHouse refused the row: " + ex.Message), true));
                logger.LogWarning("ClickHouse refused the change to {Table} at LSN {Lsn}; dead-lettering it: {Error}",
                    table.Table.QualifiedName, change.Envelope!.Source.Lsn, ex.Message);
            }
        }
    }

    private void Commit(IConsumer<byte[], byte[]> consumer, TableApply table, ApplyPlan plan)
    {
        var offsets = plan.Offsets();
        if (offsets.Count == 0)
        {
            return;
        }

        try
        {
            RecordCommitted(_owed.Commit(consumer, offsets));
        }
        catch (KafkaException ex)
        {
            // Applied but not committed: committed again shortly; read again meanwhile (a rebalance), applying them again changes nothing.
            logger.LogWarning("Applied {Records} CDC records of {Table} but could not commit their offsets, retrying: {Error}", plan.Records, table.Table.QualifiedName, ex.Error.Reason);
        }
    }

    private void RecordCommitted(IEnumerable<TopicPartitionOffset> committed)
    {
        foreach (var offset in committed)
        {
            _committed.AddOrUpdate(offset.TopicPartition, offset.Offset.Value, (_, old) => Math.Max(old, offset.Offset.Value));
        }
    }

    private static Message<byte[], byte[]> DeadLetter(CdcChange change, CdcTable table, string reason)
    {
        var record = change.Record;
        var message = new Message<byte[], byte[]> { Key = record.Message.Key, Value = record.Message.Value, Headers = [] };
        foreach (var header in record.Message.Headers ?? [])
        {
            message.Headers.Add(header.Key, header.GetValueBytes());
        }

        message.Headers.Add(DeadLetterHeaders.Reason, Encoding.UTF8.GetBytes(reason));
        message.Headers.Add(DeadLetterHeaders.Source, Encoding.UTF8.GetBytes(
            string.Create(CultureInfo.InvariantCulture, $"{record.Topic}/{record.Partition.Value}/{record.Offset.Value}")));
        message.Headers.Add(TableHeader, Encoding.UTF8.GetBytes(table.QualifiedName));
        if (change.Field is { Length: > 0 } field)
        {
            message.Headers.Add(DeadLetterHeaders.Field, Encoding.UTF8.GetBytes(field));
        }

        return message;
    }

    private void OnPartitionsRevoked(List<TopicPartitionOffset> revoked)
    {
        // Eager rebalancing takes every partition back. Whatever was read and not applied is dropped from memory:
        // it is uncommitted, so whoever gets the partitions next (this member, likely) reads it again.
        foreach (var table in _byTopic.Values)
        {
            table.Clear();
            table.Outage = null;
            table.Paused.ExceptWith(revoked.Select(r => r.TopicPartition));
        }

        _owed.Forget(revoked.Select(r => r.TopicPartition));
    }

    /// <summary>Keeps a stopped table's partitions, and those of a table waiting to retry, paused (newly assigned ones too).</summary>
    private void PauseHeldTables(IConsumer<byte[], byte[]> consumer)
    {
        if (_byTopic.Values.Any(t => t.Stopped || t.Outage is not null))
        {
            foreach (var table in _byTopic.Values.Where(t => t.Stopped || t.Outage is not null))
            {
                PauseTable(consumer, table);
            }
        }
    }

    private static void PauseTable(IConsumer<byte[], byte[]> consumer, TableApply table)
    {
        var unpaused = consumer.Assignment.Where(p => table.Owns(p.Topic) && !table.Paused.Contains(p)).ToList();
        if (unpaused.Count > 0)
        {
            consumer.Pause(unpaused);
            table.Paused.UnionWith(unpaused);
        }
    }

    private static void ResumeTable(IConsumer<byte[], byte[]> consumer, TableApply table)
    {
        var assigned = consumer.Assignment.Where(table.Paused.Contains).ToList();
        if (assigned.Count > 0)
        {
            consumer.Resume(assigned);
        }

        table.Paused.Clear();
    }

    /// <summary>
    /// Samples, per table, change records not yet applied and committed (high watermark minus committed offset).
    /// The brokers are asked through a consumer of the group that never subscribes: the member's own
    /// connections are busy with long-polling fetches, behind which each watermark query waited ~0.5 s
    /// (a sample of 48 partitions took 24 s).
    /// </summary>
    private async Task SampleLagAsync(IConsumer<byte[], byte[]> member, string bootstrap, string group, CancellationToken cancellationToken)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(KafkaConfig.Consumer(bootstrap, group, "ingestor-cdc-lag")).SetLogHandler((_, _) => { }).Build();
        using var timer = new PeriodicTimer(LagSampleInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    // Between a revocation and the next assignment there is nothing to measure: keep the last sample.
                    var assigned = member.Assignment;
                    if (assigned.Count == 0)
                    {
                        continue;
                    }

                    var committed = consumer.Committed(assigned, BrokerQueryTimeout);
                    var pending = _byTopic.Values.ToDictionary(t => t.Table, _ => 0L);
                    foreach (var partition in committed)
                    {
                        if (!_byTopic.TryGetValue(partition.Topic, out var table))
                        {
                            continue;
                        }

                        var watermarks = consumer.QueryWatermarkOffsets(partition.TopicPartition, BrokerQueryTimeout);
                        var done = Math.Max(partition.Offset.Value, _committed.GetValueOrDefault(partition.TopicPartition, -1));
                        pending[table.Table] += Math.Max(0, watermarks.High.Value - (done >= 0 ? done : watermarks.Low.Value));
                    }

                    metrics.ReportPending(pending);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogDebug("CDC consumer lag not sampled: {Error}", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }


    /// <summary>One table's records read and not yet applied, its schema as last read, and whether it waits or stopped.</summary>
    private sealed class TableApply(CdcTable table, string topic)
    {
        private readonly Stopwatch _age = new();

        public CdcTable Table { get; } = table;

        public List<CdcChange> Batch { get; } = [];

        public TimeSpan Age => _age.Elapsed;

        public ApplyPlan? Plan { get; set; }

        public bool SchemaLoaded { get; set; }

        /// <summary>Null: not read yet, or the table does not exist (see <see cref="SchemaLoaded"/>).</summary>
        public CdcTableSchema? Schema
        {
            get;
            set
            {
                field = value;
                SchemaLoaded = value is not null;
            }
        }

        public Outage? Outage { get; set; }

        public bool Stopped { get; set; }

        public HashSet<TopicPartition> Paused { get; } = [];

        public bool Owns(string name) => name == topic;

        public void Add(CdcChange change)
        {
            if (Batch.Count == 0)
            {
                _age.Restart();
            }

            Batch.Add(change);
        }

        public void RemoveApplied(int records)
        {
            Batch.RemoveRange(0, Math.Min(records, Batch.Count));
            if (Batch.Count == 0)
            {
                _age.Reset();
            }
        }

        public void Clear()
        {
            Batch.Clear();
            Plan = null;
            _age.Reset();
        }
    }

    /// <summary>What applying the first <see cref="Records"/> records of a batch amounts to, kept across retries of its store.</summary>
    private sealed class ApplyPlan(int records)
    {
        private readonly Dictionary<TopicPartition, long> _next = [];
        private readonly Dictionary<TopicPartition, long> _held = [];

        public int Records { get; } = records;

        public List<JsonObject> Rows { get; } = [];

        /// <summary>The change each of <see cref="Rows"/> was built from, for dead-lettering a row ClickHouse refuses.</summary>
        public List<CdcChange> RowChanges { get; } = [];

        /// <summary>Indexes into <see cref="Rows"/> that ClickHouse refused (already dead-lettered).</summary>
        public HashSet<int> Refused { get; } = [];

        public List<JsonObject> Truncations { get; } = [];

        /// <summary>The last truncation planned came with a snapshot (which replaces older rows), not a TRUNCATE.</summary>
        public bool TruncationBySnapshot { get; set; }

        /// <summary>The table's columns when its truncation was planned, for recreating its view (a failed attempt forgets the table's schema).</summary>
        public CdcTableSchema? TruncatedSchema { get; set; }

        public Queue<(Message<byte[], byte[]> Message, bool RefusedByClickHouse)> DeadLetters { get; } = new();

        public int Applied { get; set; }

        public ulong MaxVersion { get; set; }

        public DateTimeOffset MaxCommitTime { get; set; } = DateTimeOffset.MinValue;

        public string? StopReason { get; set; }

        public void Done(ConsumeResult<byte[], byte[]> record) => _next[record.TopicPartition] = record.Offset.Value + 1;

        public void Hold(ConsumeResult<byte[], byte[]> record) => _held.TryAdd(record.TopicPartition, record.Offset.Value);

        /// <summary>Per partition, the offset to commit: past every record done, but never past the first one held back by a stop.</summary>
        public List<TopicPartitionOffset> Offsets() =>
            _next.Keys.Concat(_held.Keys).Distinct()
                .Select(p => new TopicPartitionOffset(p, _held.TryGetValue(p, out var held) ? held : _next[p]))
                .ToList();
    }
}
