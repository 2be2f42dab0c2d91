namespace Transformer.Retention;

/// <summary>
/// One step of a retention run, as planned. <see cref="Action"/> is <see cref="DropPartition"/> (the whole
/// partition, <see cref="TenantId"/> null) or <see cref="DeleteRows"/> (one tenant's rows older than
/// <see cref="Cutoff"/>, a mutation over the whole table). <see cref="Partition"/> is the partition id
/// (<c>202601</c> monthly, <c>20260115</c> daily); for a delete, the ids of the partitions its rows are in,
/// comma-separated. <see cref="Rows"/> was counted when the action was planned.
/// </summary>
public sealed record RetentionAction(string Table, string Action, string Partition, string? TenantId, DateOnly Cutoff, long Rows)
{
    public const string DropPartition = "drop_partition";
    public const string DeleteRows = "delete_rows";

    /// <summary>The statement that carries the action out, built by the planner from checked names and escaped values.</summary>
    internal string Statement { get; init; } = "";
}
