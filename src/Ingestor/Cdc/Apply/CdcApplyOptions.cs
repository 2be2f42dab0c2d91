using System.ComponentModel.DataAnnotations;

namespace Ingestor.Cdc.Apply;

/// <summary>The apply side's batching and retry settings, bound from <c>Cdc:Apply</c> (kept apart from the shared <see cref="CdcOptions"/>).</summary>
public sealed class CdcApplyOptions
{
    public const string Section = "Cdc:Apply";

    /// <summary>Where records the apply side cannot use go, with a reason header (the event pipeline's dead letters are events; these are not).</summary>
    [Required, RegularExpression("^[A-Za-z0-9._-]{1,200}$")]
    public string DeadLetterTopic { get; set; } = "cdc.dead-letter";

    /// <summary>A table's batch is applied when it holds this many records...</summary>
    [Range(1, 1_000_000)]
    public int BatchMaxRows { get; set; } = 5_000;

    /// <summary>...or when its oldest record has waited this long.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan BatchMaxDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long applying one batch (lookups, DDL, insert) may take before it counts as failed.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:04:00")]
    public TimeSpan ApplyTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The longest wait between two attempts to apply a batch ClickHouse refused.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(10);
}
