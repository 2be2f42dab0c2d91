using Microsoft.Extensions.Options;

namespace Api.Alerts;

/// <summary>
/// The one Api instance of many that evaluates rules and sends webhooks: it holds a lease row in PostgreSQL and
/// renews it each third of its duration; if it stops renewing (crash, partition), another takes over once it expires.
/// </summary>
public sealed class AlertLease(AlertStore store, IOptions<AlertOptions> options, TimeProvider time, ILogger<AlertLease> logger)
{
    public const string Name = "alerts";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private DateTimeOffset _renewedAt = DateTimeOffset.MinValue;
    private bool _held;

    /// <summary>This instance's name in the lease row.</summary>
    public string Holder { get; } = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    public async Task<bool> HoldAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var now = time.GetUtcNow();
            if (_held && now - _renewedAt < options.Value.LeaseDuration / 3)
            {
                return true;
            }

            var held = await store.TryHoldLeaseAsync(Name, Holder, options.Value.LeaseDuration, cancellationToken);
            if (held != _held)
            {
                logger.LogInformation(held ? "This instance now evaluates alert rules ({Holder})." : "Another Api instance evaluates alert rules; {Holder} stands by.", Holder);
            }

            (_held, _renewedAt) = (held, now);
            return held;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Unsure whether it is still ours: act as if not, so two instances never both send.
            logger.LogWarning("Cannot renew the alert lease: {Error}", ex.Message);
            _held = false;
            return false;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (_held)
        {
            _held = false;
            await store.ReleaseLeaseAsync(Name, Holder, cancellationToken);
        }
    }
}
