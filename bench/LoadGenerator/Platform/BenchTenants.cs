using Npgsql;
using Platform.Tenancy;

namespace LoadGenerator.Platform;

public sealed record BenchTenant(int Index, string Id, string WriteKey, string ReadKey);

/// <summary>
/// The run's own tenants (<c>bench-RUNID-N</c>) with a write and a read key each, so that counting
/// in ClickHouse sees only this run's events, and a per-tenant limit does not cap the run.
/// </summary>
public static class BenchTenants
{
    public static async Task<IReadOnlyList<BenchTenant>> CreateAsync(string tenantStore, string runId, int count, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create(tenantStore);
        var directory = new TenantDirectory(dataSource, TimeProvider.System);
        var tenants = new List<BenchTenant>();
        for (var i = 0; i < count; i++)
        {
            var id = $"bench-{runId}-{i}";
            await directory.CreateTenantAsync(id, $"Benchmark run {runId}, tenant {i}", cancellationToken: cancellationToken);
            tenants.Add(new BenchTenant(i, id,
                await directory.IssueKeyAsync(id, ApiKeyKind.Write, cancellationToken),
                await directory.IssueKeyAsync(id, ApiKeyKind.Read, cancellationToken)));
        }

        return tenants;
    }

    /// <summary>Revokes the run's keys: they were printed nowhere, but a platform that outlives the run should not keep them live.</summary>
    public static async Task RevokeAsync(string tenantStore, IEnumerable<BenchTenant> tenants)
    {
        await using var dataSource = NpgsqlDataSource.Create(tenantStore);
        var directory = new TenantDirectory(dataSource, TimeProvider.System);
        foreach (var tenant in tenants)
        {
            await directory.RevokeKeyAsync(tenant.WriteKey);
            await directory.RevokeKeyAsync(tenant.ReadKey);
        }
    }
}
