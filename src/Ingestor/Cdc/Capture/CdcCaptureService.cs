using Ingestor.Schema;
using Microsoft.Extensions.Options;
using Npgsql;
using Npgsql.Replication;
using Platform.ClickHouse;
using Platform.Kafka;

namespace Ingestor.Cdc.Capture;

/// <summary>
/// The capture side of the CDC bridge: PostgreSQL (<c>ConnectionStrings:app</c>) -> Kafka. Each round checks
/// the configured tables, makes sure the publication and the durable slot exist, snapshots the tables that
/// lack a completed snapshot for this slot, then streams until something fails (the next round resumes from
/// the slot's confirmed position) or a refused table becomes valid (the next round snapshots it).
/// </summary>
public sealed class CdcCaptureService(
    IOptions<CdcOptions> options,
    IConfiguration configuration,
    SchemaState schema,
    ClickHouseClient clickHouse,
    CdcState state,
    CaptureStatus status,
    CaptureMetrics metrics,
    ILogger<CdcCaptureService> logger) : BackgroundService
{
    private static readonly TimeSpan SampleInterval = TimeSpan.FromSeconds(3);
    // What a PostgreSQL back from an outage may wait for the bridge; a reconnect attempt is cheap, replication lag is not.
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan LossCheckTimeout = TimeSpan.FromSeconds(5);
    private const int LossCheckEvery = 5; // seconds between reads of the partitions' ends

    private readonly Dictionary<string, string> _loggedRefusals = new(StringComparer.Ordinal);
    private readonly LostRecordsWatch _lostRecords = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var connectionString = configuration.GetConnectionString("app");
        status.IdleReason = !settings.Enabled ? "Cdc:Enabled is false"
            : settings.Tables.Count == 0 ? "Cdc:Tables is empty"
            : string.IsNullOrWhiteSpace(connectionString) ? "ConnectionStrings:app is not configured"
            : string.IsNullOrWhiteSpace(settings.TenantId) ? "Cdc:TenantId is not set: the bridge does not know which tenant owns the app database"
            : null;
        if (status.IdleReason is { } idle)
        {
            logger.Log(settings.Enabled && settings.Tables.Count > 0 ? LogLevel.Error : LogLevel.Information, "CDC capture is idle: {Reason}", idle);
            return;
        }

        status.TenantId = settings.TenantId!;
        foreach (var text in settings.Tables)
        {
            state.Table(CaptureCatalog.NameOf(text));
        }

        try
        {
            await schema.WaitAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await using var dataSource = NpgsqlDataSource.Create(connectionString!);
        var catalog = new CaptureCatalog(dataSource);
        var bootstrap = KafkaConfig.Bootstrap(configuration.GetConnectionString("kafka")!);
        using var stopSampling = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var sampling = Task.Run(() => SampleAsync(catalog, settings.Slot, stopSampling.Token), CancellationToken.None);

        var delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await RunRoundAsync(catalog, connectionString!, bootstrap, settings, stoppingToken))
                {
                    delay = TimeSpan.FromSeconds(1);
                    continue; // a refused table became valid: check, snapshot and stream again at once
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                status.LastError = ex.Message;
                logger.LogWarning(ex, "CDC capture stopped, resuming from the slot's confirmed position in {Delay}: {Error}", delay, ex.Message);
            }

            await Task.Delay(delay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
        }

        await stopSampling.CancelAsync();
        await sampling;
    }

    /// <summary>One round; true when it ended because a refused table can now be replicated.</summary>
    private async Task<bool> RunRoundAsync(CaptureCatalog catalog, string connectionString, string bootstrap, CdcOptions settings, CancellationToken stoppingToken)
    {
        var tenantId = settings.TenantId!;
        var checks = new List<TableCheck>();
        foreach (var text in settings.Tables)
        {
            checks.Add(await catalog.CheckAsync(text, stoppingToken));
        }

        foreach (var check in checks)
        {
            Refuse(check);
        }

        var accepted = checks.Where(c => c.Accepted).Select(c => c.Table).Distinct().ToList();
        var refused = settings.Tables.Where((_, i) => !checks[i].Accepted).ToList();
        await catalog.EnsurePublicationAsync(settings.Publication, accepted, stoppingToken);
        var markers = new SnapshotMarkers(clickHouse);
        await EnsureSlotAsync(catalog, connectionString, markers, settings, stoppingToken);
        if (accepted.Count > 0)
        {
            await EnsureTopicsAsync(bootstrap, accepted.Select(t => t.Topic(settings.TopicPrefix)), stoppingToken);
        }

        using var producer = new ChangeProducer(bootstrap, settings.TopicPrefix, _lostRecords, logger);
        using var watermarks = new Confluent.Kafka.ConsumerBuilder<Confluent.Kafka.Ignore, Confluent.Kafka.Ignore>(
            KafkaConfig.Consumer(bootstrap, "ingestor-cdc-watch", "ingestor-cdc-watch")).SetLogHandler((_, _) => { }).Build();
        _lostRecords.Check(watermarks, LossCheckTimeout);
        await MarkLossesAsync(catalog, markers, settings, accepted, stoppingToken);
        var completed = await markers.CompletedAsync(tenantId, settings.Slot, stoppingToken);
        var needed = accepted.Where(t => !completed.ContainsKey(t.QualifiedName)).ToList();
        foreach (var table in accepted.Except(needed))
        {
            var tableState = state.Table(table);
            tableState.SnapshotLsn ??= completed[table.QualifiedName];
            tableState.Set(CdcTableStatus.Streaming);
        }

        if (needed.Count > 0)
        {
            await SnapshotAsync(catalog, connectionString, producer, markers, settings, needed, stoppingToken);
        }

        status.StreamingSince ??= DateTimeOffset.UtcNow;
        status.LastError = null;
        logger.LogInformation("Streaming {Tables} from slot {Slot} (publication {Publication}){Refused}",
            accepted.Count > 0 ? string.Join(", ", accepted) : "no table yet", settings.Slot, settings.Publication,
            refused.Count > 0 ? $"; re-checking {string.Join(", ", refused)} every {settings.RecheckInterval}" : "");

        using var session = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var recheck = Task.Run(() => RecheckAsync(catalog, refused, settings.RecheckInterval, session), CancellationToken.None);
        var lossWatch = Task.Run(() => WatchForLossesAsync(watermarks, session), CancellationToken.None);
        try
        {
            var streamer = new ChangeStreamer(catalog, producer, state, status, metrics, logger);
            await streamer.RunAsync(connectionString, settings, accepted.ToHashSet(), session.Token);
            throw new InvalidOperationException("The server ended the replication stream.");
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested && session.IsCancellationRequested)
        {
            return true;
        }
        finally
        {
            await session.CancelAsync();
            await recheck;
            await lossWatch;
        }
    }

    /// <summary>Makes the tables whose topics lost records snapshot again, durably (a restart before the snapshot still takes it).</summary>
    private async Task MarkLossesAsync(CaptureCatalog catalog, SnapshotMarkers markers, CdcOptions settings, List<CdcTable> accepted, CancellationToken cancellationToken)
    {
        var losses = _lostRecords.Losses();
        foreach (var table in accepted.Where(t => losses.ContainsKey(t.Topic(settings.TopicPrefix))))
        {
            var topic = table.Topic(settings.TopicPrefix);
            await markers.MarkLostAsync(settings.TenantId!, settings.Slot, table, await catalog.CurrentWalLsnAsync(cancellationToken), cancellationToken);
            logger.LogWarning("Kafka lost change records of {Table} that the slot had moved past ({Reason}): the table is snapshotted again", table, losses[topic]);
            state.Table(table).LastLoss = $"{DateTimeOffset.UtcNow:O}: {losses[topic]}";
            _lostRecords.Marked(topic, losses[topic]);
        }
    }

    /// <summary>Ends the streaming session when Kafka lost acknowledged records: the next round snapshots their tables.</summary>
    private async Task WatchForLossesAsync(Confluent.Kafka.IConsumer<Confluent.Kafka.Ignore, Confluent.Kafka.Ignore> watermarks, CancellationTokenSource session)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var tick = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(session.Token))
            {
                if (++tick % LossCheckEvery == 0)
                {
                    try
                    {
                        _lostRecords.Check(watermarks, LossCheckTimeout);
                    }
                    catch (Confluent.Kafka.KafkaException ex)
                    {
                        logger.LogDebug("Partition ends not read: {Error}", ex.Error.Reason);
                    }
                }

                if (_lostRecords.HasLosses)
                {
                    await session.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Refuse(TableCheck check)
    {
        var tableState = state.Table(check.Table);
        if (check.Accepted)
        {
            tableState.Reconsider();
            _loggedRefusals.Remove(check.Table.QualifiedName);
            return;
        }

        tableState.Set(CdcTableStatus.Refused, check.Error);
        if (_loggedRefusals.GetValueOrDefault(check.Table.QualifiedName) != check.Error)
        {
            _loggedRefusals[check.Table.QualifiedName] = check.Error!;
            logger.LogError("CDC refuses {Table}: {Error}", check.Table, check.Error);
        }
    }

    /// <summary>
    /// The slot is created when missing, after its epoch is recorded: every table then needs a new snapshot,
    /// because the new slot holds no change from before its creation.
    /// </summary>
    private async Task EnsureSlotAsync(CaptureCatalog catalog, string connectionString, SnapshotMarkers markers, CdcOptions settings, CancellationToken cancellationToken)
    {
        var database = await catalog.DatabaseAsync(cancellationToken);
        switch (await catalog.FindSlotAsync(settings.Slot, cancellationToken))
        {
            case null:
                await markers.MarkEpochAsync(settings.TenantId!, settings.Slot, await catalog.CurrentWalLsnAsync(cancellationToken), cancellationToken);
                await using (var replication = new LogicalReplicationConnection(connectionString))
                {
                    await replication.Open(cancellationToken);
                    var slot = await replication.CreatePgOutputReplicationSlot(settings.Slot, temporarySlot: false,
                        slotSnapshotInitMode: LogicalSlotSnapshotInitMode.NoExport, cancellationToken: cancellationToken);
                    logger.LogInformation("Created replication slot {Slot} (pgoutput) at {Lsn}; every table is snapshotted again", settings.Slot, slot.ConsistentPoint);
                }

                break;
            case { Plugin: not "pgoutput" } other:
                throw new InvalidOperationException(
                    $"Replication slot {settings.Slot} uses the plugin '{other.Plugin}', not pgoutput: drop it (SELECT pg_drop_replication_slot('{settings.Slot}')) or set Cdc:Slot to another name.");
            case { Database: var slotDatabase } when slotDatabase != database:
                throw new InvalidOperationException(
                    $"Replication slot {settings.Slot} belongs to database '{slotDatabase}', not '{database}': set Cdc:Slot to another name.");
        }
    }

    private async Task SnapshotAsync(CaptureCatalog catalog, string connectionString, ChangeProducer producer, SnapshotMarkers markers,
        CdcOptions settings, List<CdcTable> tables, CancellationToken cancellationToken)
    {
        foreach (var table in tables)
        {
            var tableState = state.Table(table);
            tableState.SnapshotRows = 0;
            tableState.Set(CdcTableStatus.Snapshotting);
        }

        var snapshotter = new Snapshotter(catalog, producer, logger);
        var (version, rows) = await snapshotter.RunAsync(connectionString, settings.Slot, settings.TenantId!, tables,
            (table, count) =>
            {
                state.Table(table).SnapshotRows = count;
                return Task.CompletedTask;
            }, cancellationToken);

        // Only now, with every row acknowledged by Kafka, does the snapshot count as done.
        foreach (var table in tables)
        {
            await markers.MarkCompletedAsync(settings.TenantId!, settings.Slot, table, version, rows[table], cancellationToken);
            var tableState = state.Table(table);
            tableState.SnapshotLsn = version;
            tableState.Set(CdcTableStatus.Streaming);
            logger.LogInformation("Snapshot of {Table} done: {Rows} rows at version {Version}", table, rows[table], PgText.Lsn(version));
        }
    }

    /// <summary>Ends the streaming session as soon as a refused or missing table can be replicated.</summary>
    private async Task RecheckAsync(CaptureCatalog catalog, IReadOnlyList<string> refused, TimeSpan interval, CancellationTokenSource session)
    {
        if (refused.Count == 0)
        {
            return;
        }

        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(session.Token))
            {
                foreach (var text in refused)
                {
                    try
                    {
                        var check = await catalog.CheckAsync(text, session.Token);
                        if (check.Accepted)
                        {
                            logger.LogInformation("{Table} can be replicated now; adding it", check.Table);
                            await session.CancelAsync();
                            return;
                        }

                        Refuse(check);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        logger.LogDebug("Re-check of {Table} failed: {Error}", text, ex.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task SampleAsync(CaptureCatalog catalog, string slot, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(SampleInterval);
        try
        {
            do
            {
                try
                {
                    if (await catalog.SampleSlotAsync(slot, cancellationToken) is { } sample)
                    {
                        state.Slot = sample;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogDebug("Slot {Slot} not sampled: {Error}", slot, ex.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Creates the change topics where the cluster answers CreateTopics; the development mock cluster does
    /// not, but creates a topic when a client first asks for it by name.
    /// </summary>
    private async Task EnsureTopicsAsync(string bootstrap, IEnumerable<string> topics, CancellationToken cancellationToken)
    {
        var list = topics.ToList();
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            await KafkaTopics.EnsureAsync(bootstrap, list, KafkaTopics.DefaultPartitions, attempt.Token);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is Confluent.Kafka.KafkaException or OperationCanceledException)
        {
            // An auto-creating broker (the mock cluster) creates a topic that a metadata request names.
            logger.LogDebug("CreateTopics not answered ({Error}); asking for {Topics} by name so an auto-creating broker creates them", ex.Message, string.Join(", ", list));
            using var admin = new Confluent.Kafka.AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build();
            foreach (var topic in list)
            {
                try
                {
                    admin.GetMetadata(topic, TimeSpan.FromSeconds(5));
                }
                catch (Confluent.Kafka.KafkaException metadataError)
                {
                    logger.LogDebug("No metadata for {Topic}: {Error}", topic, metadataError.Error.Reason);
                }
            }
        }
    }
}
