using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Options;

namespace Api.Alerts;

/// <summary>
/// Sends stored webhooks while this instance holds the <see cref="AlertLease"/>: each POST signed with its rule's secret,
/// with a timeout; a failure (no answer, not 2xx) is retried with doubling waits up to <see cref="AlertOptions.MaxAttempts"/>,
/// then marked failed. Deliveries run side by side (at most one per rule, oldest first), so a slow or failing receiver
/// delays only its own rule's messages, never the evaluator or another tenant's.
/// </summary>
public sealed class WebhookSender(
    AlertStore store, AlertLease lease, WebhookSignal signal, IHttpClientFactory http, IOptions<AlertOptions> options, TimeProvider time,
    ILogger<WebhookSender> logger) : BackgroundService
{
    public const string HttpClientName = "alert-webhooks";

    private static readonly Meter Meter = new("Platform.Api.Alerts");
    private static readonly Counter<long> Attempts = Meter.CreateCounter<long>("alerts.webhook.attempts", description: "Webhook attempts, by outcome (delivered, retry, failed).");

    private readonly InFlight _sending = new(options.Value.MaxConcurrentDeliveries);

    /// <summary>The wait before attempt <paramref name="attempt"/> + 1: the base delay doubled per failed attempt, capped.</summary>
    public static TimeSpan RetryDelay(int attempt, TimeSpan baseDelay, TimeSpan max) =>
        TimeSpan.FromTicks((long)Math.Min(max.Ticks, baseDelay.Ticks * Math.Pow(2, Math.Max(0, attempt - 1))));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            await SendDueAsync(stoppingToken);
            await signal.WaitAsync(options.Value.Tick, stoppingToken);
        }

        await _sending.WhenAllAsync();
    }

    private async Task SendDueAsync(CancellationToken stoppingToken)
    {
        try
        {
            if (_sending.Free <= 0 || !await lease.HoldAsync(stoppingToken))
            {
                return;
            }

            foreach (var webhook in await store.DueDeliveriesAsync(time.GetUtcNow(), limit: 200, stoppingToken))
            {
                _sending.TryStart(webhook.Id, () => SendAsync(webhook, stoppingToken));
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            logger.LogWarning("Cannot look for due webhooks: {Error}", ex.Message);
        }
    }

    private async Task SendAsync(OutgoingWebhook webhook, CancellationToken stoppingToken)
    {
        var attempt = webhook.Attempts + 1;
        int? statusCode = null;
        string? error = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url)
            {
                Content = new StringContent(webhook.Body, Encoding.UTF8, "application/json"),
            };
            request.Headers.Add(WebhookMessages.SignatureHeader, WebhookMessages.Sign(webhook.Secret, webhook.Body));
            request.Headers.Add(WebhookMessages.DeliveryHeader, webhook.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            request.Headers.Add(WebhookMessages.EventHeader, webhook.Event);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(options.Value.DeliveryTimeout);
            using var response = await http.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            statusCode = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                error = $"The receiver answered {statusCode} {response.ReasonPhrase}.";
            }
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            error = $"The receiver did not answer within {options.Value.DeliveryTimeout}.";
        }
        catch (HttpRequestException ex)
        {
            error = ex.InnerException is { } inner ? $"{ex.Message} ({inner.Message})" : ex.Message;
        }
        catch (OperationCanceledException)
        {
            return; // stopping: the attempt is made again by whichever instance sends next
        }

        var now = time.GetUtcNow();
        var (status, outcome) = error is null ? ("delivered", "delivered") : attempt >= options.Value.MaxAttempts ? ("failed", "failed") : ("pending", "retry");
        Attempts.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
        if (error is not null)
        {
            logger.LogWarning("Webhook {DeliveryId} of alert rule {RuleId}, attempt {Attempt}: {Error}{Next}", webhook.Id, webhook.RuleId, attempt, error,
                status == "failed" ? " Giving up." : " Retrying.");
        }

        try
        {
            await store.RecordAttemptAsync(webhook.Id, status, attempt, statusCode, error, now,
                status == "pending" ? now + RetryDelay(attempt, options.Value.RetryBaseDelay, options.Value.MaxRetryDelay) : now, CancellationToken.None);
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or TimeoutException)
        {
            // Not recorded: sent again later. Receivers tell repeats apart by X-Platform-Delivery.
            logger.LogWarning("Cannot record webhook {DeliveryId}'s attempt: {Error}", webhook.Id, ex.Message);
        }
    }
}
