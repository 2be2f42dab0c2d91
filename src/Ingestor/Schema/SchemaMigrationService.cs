using Microsoft.Extensions.Diagnostics.HealthChecks;
using Platform.ClickHouse;

namespace Ingestor.Schema;

/// <summary>
/// Owns the raw tables' schema: applies the Ingestor's ClickHouse migrations at start, retrying
/// until the server takes them. Readiness (and so every service that waits for the Ingestor, and
/// the consumer) is held back until the schema is in place.
/// </summary>
public sealed class SchemaMigrationService(ClickHouseMigrator migrator, SchemaState state) : BackgroundService
{
    public const string Component = "ingestor";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var migrations = ClickHouseMigration.FromAssembly(typeof(SchemaMigrationService).Assembly);
        await migrator.ApplyUntilDoneAsync(migrations, Component, ex => state.LastError = ex.Message, stoppingToken);
        state.MarkReady();
    }
}

public sealed class SchemaState
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string? LastError { get; set; }

    public bool IsReady => _ready.Task.IsCompleted;

    public Task WaitAsync(CancellationToken cancellationToken) => _ready.Task.WaitAsync(cancellationToken);

    public void MarkReady() => _ready.TrySetResult();
}

public sealed class SchemaHealthCheck(SchemaState state) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(state.IsReady
            ? HealthCheckResult.Healthy("ClickHouse schema is current.")
            : HealthCheckResult.Unhealthy($"ClickHouse schema is not applied yet. {state.LastError}"));
}
