using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;

namespace Api.Alerts;

/// <summary>
/// Runs each rule on its schedule while this instance holds the <see cref="AlertLease"/>: reads the metric, moves the rule
/// between ok, pending and firing, and on firing and on resolving stores the webhook to send (once per transition: a rule that
/// stays firing is not sent again). Readings run side by side with a timeout each, so one slow tenant query holds one slot.
/// </summary>
public sealed class AlertEvaluator(
    AlertStore store, AlertLease lease, AlertMetricReader reader, WebhookSignal signal, IOptions<AlertOptions> options, IServer server,
    TimeProvider time, ILogger<AlertEvaluator> logger) : BackgroundService
{
    private static readonly Meter Meter = new("Platform.Api.Alerts");
    private static readonly Counter<long> Evaluations = Meter.CreateCounter<long>("alerts.evaluations", description: "Rule readings, by outcome (ok, breached, error).");
    private static readonly Counter<long> Transitions = Meter.CreateCounter<long>("alerts.transitions", description: "Rules that started firing or resolved.");

    private readonly InFlight _running = new(options.Value.MaxConcurrentEvaluations);

    /// <summary>The rule's next state: firing after the condition held for the rule's <c>for</c>, ok as soon as it does not.</summary>
    public static (AlertState State, string? Notify) Next(AlertState current, bool breached, TimeSpan holdFor, AlertReading reading, DateTimeOffset now)
    {
        var reported = current with { Value = reading.Value, Baseline = reading.Baseline, EvaluatedAt = now, Error = null };
        return (current.Status, breached) switch
        {
            (AlertState.Firing, true) => (reported, null),
            (AlertState.Firing, false) => (reported with { Status = AlertState.Ok, Since = now }, "resolved"),
            (AlertState.Pending, true) when now - current.Since >= holdFor => (reported with { Status = AlertState.Firing, Since = now }, "firing"),
            (AlertState.Pending, true) => (reported, null),
            (_, true) when holdFor <= TimeSpan.Zero => (reported with { Status = AlertState.Firing, Since = now }, "firing"),
            (_, true) => (reported with { Status = AlertState.Pending, Since = now }, null),
            (AlertState.Pending, false) => (reported with { Status = AlertState.Ok, Since = now }, null),
            _ => (reported with { Since = current.Since ?? now }, null),
        };
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.Tick, time);
        try
        {
            do
            {
                await EvaluateDueRulesAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        await _running.WhenAllAsync();
        await lease.ReleaseAsync(CancellationToken.None);
    }

    private async Task EvaluateDueRulesAsync(CancellationToken stoppingToken)
    {
        try
        {
            if (_running.Free <= 0 || !await lease.HoldAsync(stoppingToken))
            {
                return;
            }

            foreach (var rule in await store.DueAsync(time.GetUtcNow(), limit: 100, stoppingToken))
            {
                _running.TryStart(rule.Id, () => EvaluateAsync(rule, stoppingToken));
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            logger.LogWarning("Cannot look for due alert rules: {Error}", ex.Message);
        }
    }

    private async Task EvaluateAsync(AlertRule rule, CancellationToken stoppingToken)
    {
        // Whole milliseconds: what PostgreSQL keeps (microseconds) and the webhook's times then read back the same.
        var utc = time.GetUtcNow();
        var now = new DateTimeOffset(utc.UtcTicks - utc.UtcTicks % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);
        try
        {
            AlertReading reading;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken))
            {
                timeout.CancelAfter(options.Value.EvaluationTimeout);
                try
                {
                    reading = await reader.ReadAsync(rule, now, timeout.Token);
                }
                catch (Exception ex) when (IsReadFailure(ex, stoppingToken))
                {
                    var why = ex is OperationCanceledException ? $"Reading {rule.Metric} took longer than {options.Value.EvaluationTimeout}." : ex.Message;
                    Evaluations.Add(1, new KeyValuePair<string, object?>("outcome", "error"));
                    await store.RecordAsync(rule.Id, rule.State with { EvaluatedAt = now, Error = why }, null, now, stoppingToken);
                    return;
                }
            }

            var breached = rule.Breached(reading);
            Evaluations.Add(1, new KeyValuePair<string, object?>("outcome", breached ? "breached" : "ok"));
            var (state, notify) = Next(rule.State, breached, rule.For, reading, now);
            var body = notify is null ? null
                : WebhookMessages.Build(rule, notify, reading, now, notify == "firing" ? now : rule.State.Since ?? now, PublicUrl());
            await store.RecordAsync(rule.Id, state, notify is null ? null : (notify, body!), now, stoppingToken);
            if (notify is not null)
            {
                Transitions.Add(1, new KeyValuePair<string, object?>("event", notify));
                logger.LogInformation("Alert rule {RuleId} ({Name}) {Event}: {Metric} = {Value}.", rule.Id, rule.Name, notify, rule.Metric, reading.Value);
                signal.Wake();
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            logger.LogWarning("Cannot record the evaluation of alert rule {RuleId}: {Error}", rule.Id, ex.Message);
        }
    }

    private static bool IsReadFailure(Exception ex, CancellationToken stoppingToken) => ex switch
    {
        OperationCanceledException => !stoppingToken.IsCancellationRequested,
        AlertReadException or ClickHouseServerException or ClickHouseUnavailableException or HttpRequestException or Confluent.Kafka.KafkaException
            or Npgsql.NpgsqlException or Querying.BadQueryException => true,
        _ => false,
    };

    private string PublicUrl() => options.Value.PublicUrl is { Length: > 0 } configured
        ? configured
        : server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "";
}

/// <summary>Wakes the webhook sender when the evaluator stored a notification, so it goes out now rather than on the next tick.</summary>
public sealed class WebhookSignal
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Wake() => _channel.Writer.TryWrite(true);

    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(timeout);
        try
        {
            await _channel.Reader.ReadAsync(wait.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }
}
