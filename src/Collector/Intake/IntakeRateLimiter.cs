using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using Platform.Tenancy;

namespace Collector.Intake;

/// <summary>
/// Events per second per tenant, as token buckets of the built-in rate limiter. Counted in events,
/// not requests, since one request may carry one event or two thousand. The per-IP request limit
/// is the rate-limiting middleware's (see Extensions); this one needs the tenant and the event
/// count, which exist only once the body has been read.
/// </summary>
public sealed class IntakeRateLimiter(IOptions<CollectorOptions> options) : IDisposable
{
    private readonly PartitionedRateLimiter<(string Tenant, int Limit)> _limiter = PartitionedRateLimiter.Create<(string Tenant, int Limit), (string, int)>(
        key => RateLimitPartition.GetTokenBucketLimiter(key, k => new TokenBucketRateLimiterOptions
        {
            // A bucket holds a second's worth, and at least one full request, so any valid request can pass when idle.
            TokenLimit = Math.Max(k.Limit, options.Value.MaxEventsPerRequest),
            TokensPerPeriod = RateLimitOptions.TokensPerPeriod(k.Limit),
            ReplenishmentPeriod = RateLimitOptions.Period(k.Limit),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    /// <summary>Null when the events may pass; otherwise how long to wait before retrying.</summary>
    public TimeSpan? TryAcquire(TenantIntakeProfile tenant, int events)
    {
        // The limit is part of the key, so a changed tenant setting takes effect with a fresh bucket.
        var limit = tenant.Settings.EventsPerSecond ?? options.Value.RateLimits.EventsPerSecondPerTenant;
        // A request carries at most MaxEventsPerRequest events, which always fit the bucket.
        using var lease = _limiter.AttemptAcquire((tenant.TenantId, limit), events);
        if (lease.IsAcquired)
        {
            return null;
        }

        return lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
    }

    public void Dispose() => _limiter.Dispose();
}
