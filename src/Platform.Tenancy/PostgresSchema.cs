using Npgsql;

namespace Platform.Tenancy;

/// <summary>
/// One part of the platform database's schema (idempotent DDL), applied once per process and again after a failure.
/// CREATE ... IF NOT EXISTS still races on the catalog, so an advisory lock serialises replicas starting together.
/// </summary>
/// <param name="before">The schema this one builds on (its tables referenced), applied first.</param>
public sealed class PostgresSchema(NpgsqlDataSource dataSource, long lockKey, string ddl, Func<CancellationToken, Task>? before = null)
{
    private Task? _applied;

    public async Task ApplyAsync(CancellationToken cancellationToken)
    {
        if (before is not null)
        {
            await before(cancellationToken);
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({lockKey})", connection, transaction))
        {
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var command = new NpgsqlCommand(ddl, connection, transaction))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    public Task ApplyOnceAsync(CancellationToken cancellationToken)
    {
        var applied = _applied;
        if (applied is null || applied.IsFaulted || applied.IsCanceled)
        {
            applied = _applied = ApplyAsync(cancellationToken);
        }

        return applied;
    }
}
