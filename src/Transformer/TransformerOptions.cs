using System.ComponentModel.DataAnnotations;

namespace Transformer;

/// <summary>Bound from <c>Transformer</c>: where the models are, when each schedule group runs, how much runs at once.</summary>
public sealed class TransformerOptions
{
    public const string Section = "Transformer";

    /// <summary>The models folder; relative paths are read from the binary's folder, where the build copies <c>models/</c>.</summary>
    [Required]
    public string ModelsPath { get; set; } = "models";

    /// <summary>How often each schedule group runs. A group not listed here runs only on demand.</summary>
    public Dictionary<string, TimeSpan> Schedules { get; set; } = new()
    {
        ["light"] = TimeSpan.FromMinutes(1),
        ["heavy"] = TimeSpan.FromMinutes(15),
    };

    /// <summary>False: no scheduled runs (the command line and tests drive the runner themselves).</summary>
    public bool ScheduleEnabled { get; set; } = true;

    /// <summary>Models built at the same time within one run, when the graph allows it.</summary>
    [Range(1, 64)]
    public int MaxParallelism { get; set; } = 2;

    /// <summary>Days an incremental model re-builds on every run, unless its header says otherwise.</summary>
    [Range(0, 366)]
    public int DefaultLookbackDays { get; set; } = 3;

    /// <summary>A statement running longer than this is cancelled by ClickHouse and the model's build fails.</summary>
    public TimeSpan BuildTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Server settings for every build statement. By default a GROUP BY or ORDER BY that outgrows
    /// 1 GB spills to disk instead of failing at the memory limit, so a full build of months of
    /// events (sessions group every actor's events) completes on a small server.
    /// </summary>
    public Dictionary<string, string> BuildSettings { get; set; } = new()
    {
        ["max_bytes_before_external_group_by"] = "1000000000",
        ["max_bytes_before_external_sort"] = "1000000000",
    };

    /// <summary>Failing rows kept with a failed data test, as samples for the status endpoint.</summary>
    [Range(0, 100)]
    public int TestFailureSamples { get; set; } = 5;

    public RetentionOptions Retention { get; set; } = new();

    public LateDayRepairOptions Repair { get; set; } = new();
}

/// <summary>
/// Bound from <c>Transformer:Repair</c>: scheduled runs rebuild the days of incremental models that rows arrived
/// for after their last build (an import, a week-old mobile queue), oldest first (docs/transformer.md).
/// </summary>
public sealed class LateDayRepairOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Days each model repairs in one run at most, so a big import cannot hold up the schedule; the rest follow in the next runs.</summary>
    [Range(1, 3660)]
    public int MaxDaysPerRun { get; set; } = 31;

    /// <summary>Rows inserted longer ago than this are taken as built: repairs older than it need a backfill.</summary>
    public TimeSpan Horizon { get; set; } = TimeSpan.FromDays(7);
}

/// <summary>
/// Bound from <c>Transformer:Retention</c>. Tables the Transformer does not own (raw events) are listed
/// here; its own models declare <c>retention_days</c> in their header, and an entry here overrides that.
/// </summary>
public sealed class RetentionOptions
{
    public bool Enabled { get; set; } = true;

    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    public Dictionary<string, TableRetention> Tables { get; set; } = new()
    {
        ["raw_events"] = new TableRetention { Days = 180, TimeColumn = "event_time" },
    };
}

public sealed class TableRetention
{
    /// <summary>Rows older than this many days (by <see cref="TimeColumn"/>) are removed.</summary>
    [Range(1, 36500)]
    public int Days { get; set; }

    /// <summary>The column a row's age is read from (Date or DateTime).</summary>
    public string TimeColumn { get; set; } = "event_time";

    public string TenantColumn { get; set; } = "tenant_id";

    /// <summary>Days per tenant, shorter or longer than <see cref="Days"/>.</summary>
    public Dictionary<string, int> Tenants { get; set; } = new();
}
