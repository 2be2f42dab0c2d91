using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Transformer.Retention;

/// <summary>
/// Runs retention shortly after start and then every <see cref="RetentionOptions.Interval"/>, when
/// <see cref="RetentionOptions.Enabled"/>. A failed run (ClickHouse down, say) is logged and the next
/// one tried on schedule; it never stops the host.
/// </summary>
public sealed class RetentionService(
    IOptions<TransformerOptions> options, IRetentionTables tables, RetentionRunner runner, TimeProvider time, ILogger<RetentionService> logger)
    : BackgroundService
{
    /// <summary>How long after start the first run waits, so the host is up and migrations are applied first.</summary>
    public static readonly TimeSpan StartDelay = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var retention = options.Value.Retention;
        if (!retention.Enabled)
        {
            logger.LogInformation("Retention is disabled (Transformer:Retention:Enabled)");
            return;
        }

        if (retention.Interval <= TimeSpan.Zero)
        {
            logger.LogError("Retention does not run: Transformer:Retention:Interval must be positive, not {Interval}", retention.Interval);
            return;
        }

        try
        {
            await Task.Delay(StartDelay, time, stoppingToken);
            using var timer = new PeriodicTimer(retention.Interval, time);
            do
            {
                await RunOnceAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One run over the tables as resolved now; failures are logged, never thrown.</summary>
    public async Task RunOnceAsync(CancellationToken ct)
    {
        try
        {
            var actions = await runner.RunAsync(tables.Resolve(), dryRun: false, ct);
            logger.LogInformation("Retention run finished: {Actions} actions", actions.Count);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            logger.LogError(ex, "Retention run failed; the next one runs in {Interval}", options.Value.Retention.Interval);
        }
    }
}
