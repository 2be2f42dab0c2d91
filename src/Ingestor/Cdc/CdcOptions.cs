using System.ComponentModel.DataAnnotations;

namespace Ingestor.Cdc;

/// <summary>
/// The CDC bridge (PostgreSQL <c>ConnectionStrings:app</c> -> Kafka -> ClickHouse), bound from the <c>Cdc</c> section.
/// With no <see cref="Tables"/> the bridge stays idle.
/// </summary>
public sealed class CdcOptions
{
    public const string Section = "Cdc";

    public bool Enabled { get; set; } = true;

    /// <summary>The tenant that owns the product database: every replicated row is stored under it.</summary>
    [RegularExpression("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
    public string? TenantId { get; set; }

    /// <summary>Tables to replicate, as <c>table</c> (schema public) or <c>schema.table</c>.</summary>
    public List<string> Tables { get; set; } = [];

    [Required, RegularExpression("^[a-z_][a-z0-9_]{0,62}$")]
    public string Publication { get; set; } = "platform_cdc";

    [Required, RegularExpression("^[a-z_][a-z0-9_]{0,62}$")]
    public string Slot { get; set; } = "platform_cdc";

    /// <summary>Change topics are <c>{TopicPrefix}{schema}.{table}</c>.</summary>
    [Required, RegularExpression("^[A-Za-z0-9._-]{1,100}$")]
    public string TopicPrefix { get; set; } = "cdc.";

    [Required]
    public string ConsumerGroup { get; set; } = "ingestor-cdc";

    /// <summary>Slot size (WAL the slot holds back) past which the bridge reports itself degraded.</summary>
    [Range(1L, long.MaxValue)]
    public long SlotSizeWarningBytes { get; set; } = 1L << 30;

    /// <summary>How often the capture side checks refused or missing tables again, so a table created (or given a key) later is picked up.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "01:00:00")]
    public TimeSpan RecheckInterval { get; set; } = TimeSpan.FromSeconds(30);
}
