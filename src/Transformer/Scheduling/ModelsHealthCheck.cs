using Microsoft.Extensions.Diagnostics.HealthChecks;
using Transformer.Runs;

namespace Transformer.Scheduling;

/// <summary>
/// Unhealthy until the Transformer's tables exist; degraded (still ready: the other models keep
/// building) while a model's latest build failed or a blocking data test fails.
/// </summary>
public sealed class ModelsHealthCheck(ScheduleService schedule, ModelRunner runner) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!schedule.Ready.IsCompletedSuccessfully)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy("Creating the Transformer's tables in ClickHouse."));
        }

        var failed = runner.States.All.Where(s => s.Status == "failed").Select(s => s.Model).ToList();
        var blocking = runner.States.All.Where(s => s.BlocksDependents).Select(s => s.Model).ToList();
        if (failed.Count == 0 && blocking.Count == 0)
        {
            return Task.FromResult(HealthCheckResult.Healthy($"{runner.States.All.Count(s => s.Status == "succeeded")} of {runner.Project.Models.Count} models built."));
        }

        var data = new Dictionary<string, object>
        {
            ["failed"] = failed,
            ["blocked_by_tests"] = blocking,
        };
        return Task.FromResult(HealthCheckResult.Degraded(
            $"Failed: {(failed.Count == 0 ? "none" : string.Join(", ", failed))}; blocking data tests failing: {(blocking.Count == 0 ? "none" : string.Join(", ", blocking))}.",
            data: data));
    }
}
