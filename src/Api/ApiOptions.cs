using System.ComponentModel.DataAnnotations;

namespace Api;

/// <summary>Query limits, bound from the <c>Api</c> section.</summary>
public sealed class ApiOptions
{
    public const string Section = "Api";

    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan MaxExecutionTime { get; set; } = TimeSpan.FromSeconds(10);

    [Range(1, 10_000_000)]
    public long MaxResultRows { get; set; } = 100_000;

    [Range(1, 3660)]
    public int MaxRangeDays { get; set; } = 400;

    /// <summary>How far apart the times of two copies of one event may be and still be folded into one (docs/events.md).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan DedupeWindow { get; set; } = TimeSpan.FromDays(1);
}
