using System.Text.Json.Serialization;

namespace Transformer.Retention;

internal sealed record TableInfo(string PartitionKey);

internal sealed record ColumnInfo(string Name, string Type);

internal sealed record PartitionRows(string PartitionId, long Rows);

internal sealed record PartitionCount(uint Id, long Rows);

internal sealed record TenantRows(string Tenant, uint[] Partitions, long Rows);

internal sealed record MutationInfo(string Command);

/// <summary>One row of <c>retention_log</c>. <c>run_at</c> is Unix seconds, so the server's time zone cannot shift it.</summary>
internal sealed record RetentionLogRow(
    long RunAt, string TableName, string Action, string Partition, string TenantId, string Cutoff, long Rows, int DryRun, string Error);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(TableInfo))]
[JsonSerializable(typeof(ColumnInfo))]
[JsonSerializable(typeof(PartitionRows))]
[JsonSerializable(typeof(PartitionCount))]
[JsonSerializable(typeof(TenantRows))]
[JsonSerializable(typeof(MutationInfo))]
[JsonSerializable(typeof(RetentionLogRow))]
internal sealed partial class RetentionJsonContext : JsonSerializerContext;
