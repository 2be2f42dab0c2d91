using System.Security.Claims;
using Api.Metrics;
using Api.Querying;

namespace Microsoft.AspNetCore.Builder;

public static class PipelineHealthApi
{
    /// <summary>Mapped on the uncached metrics group: a health answer must be the state now.</summary>
    public static RouteGroupBuilder MapPipelineHealthApi(this RouteGroupBuilder v1)
    {
        var api = v1.MapGroup("/pipeline").WithTags("Pipeline");
        api.MapGet("/health", GetPipelineHealthAsync)
            .WithName("GetPipelineHealth")
            .WithSummary("How fresh the caller's data is, and the pipeline's state: Kafka consumer lag, the Transformer's last builds and failing data tests, ClickHouse parts and pending mutations.")
            .WithDescription("No parameters. tenant: newest event/received/inserted times, seconds since the newest insert, mean and max ingest lag (inserted_at - received_at) and distinct events over deliveries received in the last 5 minutes. platform: no tenant data.");
        return api;
    }

    public static async Task<PipelineHealthResponse> GetPipelineHealthAsync(ClaimsPrincipal user, MetricsContext context, PipelineHealthQuery query, CancellationToken cancellationToken)
    {
        var scope = await context.ScopeAsync(user, cancellationToken);
        return await query.RunAsync(scope, cancellationToken);
    }
}
