using System.ComponentModel.DataAnnotations;

namespace Api.Alerts;

/// <summary>The evaluator and the webhook sender, bound from <c>Api:Alerts</c>.</summary>
public sealed class AlertOptions
{
    public const string Section = "Api:Alerts";

    /// <summary>Off: rules can still be made and listed, but this instance neither evaluates nor delivers.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often due rules and due deliveries are looked for.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan Tick { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long the instance that evaluates may be silent before another Api instance takes over.</summary>
    [Range(typeof(TimeSpan), "00:00:03", "00:10:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long one rule's reading may take; past it the rule records a timeout and keeps its state.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan EvaluationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    [Range(1, 256)]
    public int MaxConcurrentEvaluations { get; set; } = 4;

    /// <summary>How long a receiver has to answer one attempt.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan DeliveryTimeout { get; set; } = TimeSpan.FromSeconds(10);

    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 8;

    /// <summary>The wait after the first failed attempt; it doubles after each one, up to <see cref="MaxRetryDelay"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(5);

    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Webhooks in flight at once, across all receivers: a slow one holds one slot, never the others.</summary>
    [Range(1, 1024)]
    public int MaxConcurrentDeliveries { get; set; } = 32;

    /// <summary>The Api's address as receivers should link to it (the webhook's <c>query</c>); empty: the address this instance listens on.</summary>
    public string PublicUrl { get; set; } = "";

    /// <summary>The Ingestor's Kafka consumer group, whose committed offsets are the ingest lag.</summary>
    [Required]
    public string IngestorConsumerGroup { get; set; } = "ingestor";
}
