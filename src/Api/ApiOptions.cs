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
}
