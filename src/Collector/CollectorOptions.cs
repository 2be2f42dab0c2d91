using System.ComponentModel.DataAnnotations;

namespace Collector;

/// <summary>Intake limits, rate limits and Kafka acknowledgement bounds, bound from the <c>Collector</c> section.</summary>
public sealed class CollectorOptions : IValidatableObject
{
    public const string Section = "Collector";

    [Range(1024, 16 * 1024 * 1024)]
    public int MaxRequestBytes { get; set; } = 500 * 1024;

    [Range(256, 1024 * 1024)]
    public int MaxEventBytes { get; set; } = 32 * 1024;

    [Range(1, 10_000)]
    public int MaxEventsPerRequest { get; set; } = 2_000;

    /// <summary>Keys in an event's properties or traits (after flattening Segment's nested ones).</summary>
    [Range(1, 10_000)]
    public int MaxProperties { get; set; } = 256;

    [Range(1, 1024)]
    public int MaxPropertyKeyLength { get; set; } = 128;

    /// <summary>An event whose (corrected) time is further ahead of its receipt than this is refused.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan MaxFutureSkew { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long a request waits for Kafka to acknowledge its records before answering 503.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan AcknowledgeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// When set, intake answers 503 while a partition of the events topic holds more events than this
    /// that the Ingestor has not stored: for brokers that keep little (the development mock cluster).
    /// </summary>
    [Range(1, long.MaxValue)]
    public long? MaxPartitionBacklog { get; set; }

    /// <summary>
    /// A request's events travel in at most this many records of the events topic: each user's events go to the record of
    /// the user's slot (a hash of the user), keyed by tenant and slot, so one user's events keep one partition and their
    /// order. One record per slot instead of one per event cuts produce, broker, consume and commit work by the events per
    /// record. Changing it moves users between partitions once, as changing the partition count does.
    /// </summary>
    [Range(1, 1024)]
    public int UserSlots { get; set; } = 16;

    /// <summary>A record's events are split over several records above this many bytes (the broker's limit is 1 MB).</summary>
    [Range(1024, 900 * 1024)]
    public int MaxRecordBytes { get; set; } = 128 * 1024;

    [Required]
    public string IngestorConsumerGroup { get; set; } = "ingestor";

    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan BacklogCheckInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The bearer token of the admin endpoints; they answer 404 while none is configured.</summary>
    [MinLength(24)]
    public string? AdminToken { get; set; }

    [Required]
    public RateLimitOptions RateLimits { get; set; } = new();

    /// <summary>
    /// Addresses (<c>10.0.0.5</c>) or networks (<c>10.0.0.0/8</c>) of the reverse proxies in front of the Collector. Only a
    /// request that arrives from one of them has its client address taken from <c>X-Forwarded-For</c> (for the per-client
    /// rate limit); empty, the header is ignored, so a client cannot pick its own rate-limit bucket.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        TrustedProxies
            .Where(p => !(p.Contains('/') ? System.Net.IPNetwork.TryParse(p, out _) : System.Net.IPAddress.TryParse(p, out _)))
            .Select(p => new ValidationResult(
                $"'{p}' is neither an IP address (10.0.0.5) nor a network (10.0.0.0/8).", [nameof(TrustedProxies)]));
}

public sealed class RateLimitOptions
{
    /// <summary>The rate-limiter policy of the intake endpoints: requests per client address.</summary>
    public const string PerClientPolicy = "per-client";

    /// <summary>Events per second a tenant may send (bursts up to one second's worth); a tenant's settings may override it.</summary>
    [Range(1, 10_000_000)]
    public int EventsPerSecondPerTenant { get; set; } = 50_000;

    /// <summary>Requests per second from one client IP address (bursts up to twice that).</summary>
    [Range(1, 1_000_000)]
    public int RequestsPerSecondPerClient { get; set; } = 1_000;

    /// <summary>Token buckets refill ten times a second, or once per token when the rate is lower than that.</summary>
    public static int TokensPerPeriod(int perSecond) => Math.Max(1, perSecond / 10);

    public static TimeSpan Period(int perSecond) => TimeSpan.FromSeconds(TokensPerPeriod(perSecond) / (double)perSecond);
}
