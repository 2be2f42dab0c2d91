using System.ComponentModel.DataAnnotations;

namespace Api;

/// <summary>Query limits, caching and access, bound from the <c>Api</c> section.</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    /// <summary>ClickHouse's <c>max_execution_time</c> for every metrics query; past it the caller gets a 504 problem.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan MaxExecutionTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Rows a query may return; a bigger answer is a 400 asking for a narrower question, never a silent cut.</summary>
    [Range(1, 10_000_000)]
    public long MaxResultRows { get; set; } = 100_000;

    /// <summary>Memory one query may use on ClickHouse (bytes).</summary>
    [Range(16L * 1024 * 1024, 64L * 1024 * 1024 * 1024)]
    public long MaxQueryMemory { get; set; } = 2L * 1024 * 1024 * 1024;

    [Range(1, 3660)]
    public int MaxRangeDays { get; set; } = 400;

    /// <summary>Time buckets one series may have (a minute interval over a month is refused).</summary>
    [Range(10, 100_000)]
    public int MaxBuckets { get; set; } = 5_000;

    /// <summary>Breakdown values returned at most (the largest by total).</summary>
    [Range(1, 1_000)]
    public int MaxBreakdownValues { get; set; } = 50;

    [Range(2, 50)]
    public int MaxFunnelSteps { get; set; } = 10;

    /// <summary>Events one trends query may name at once.</summary>
    [Range(1, 100)]
    public int MaxEvents { get; set; } = 20;

    [Range(1, 100)]
    public int MaxFilters { get; set; } = 20;

    /// <summary>Metrics queries one tenant may run at once; more wait in a short queue, then get a 429.</summary>
    [Range(1, 1_000)]
    public int MaxConcurrentQueriesPerTenant { get; set; } = 4;

    [Range(0, 10_000)]
    public int QueuedQueriesPerTenant { get; set; } = 16;

    /// <summary>How long a metrics answer is served from the output cache (per tenant and request); zero turns caching off.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan CacheDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How far apart the times of two copies of one event may be and still be folded into one (docs/events.md).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan DedupeWindow { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long the Transformer's build history is trusted before it is read again.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan WatermarkCacheDuration { get; set; } = TimeSpan.FromSeconds(5);

    public JwtOptions Jwt { get; set; } = new();
}

/// <summary>Signed bearer tokens for Grafana and services: HS256 with a shared key from configuration.</summary>
public sealed class JwtOptions
{
    /// <summary>The HMAC key (at least 32 characters); empty turns token authentication off.</summary>
    public string SigningKey { get; set; } = "";

    public string Issuer { get; set; } = "platform";

    public string Audience { get; set; } = "platform-api";
}
