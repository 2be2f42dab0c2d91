using Api.Caching;

namespace Microsoft.AspNetCore.Builder;

/// <summary>The metrics API under /v1: every group needs a read credential and answers for the caller's tenant only.</summary>
public static class MetricsApis
{
    public static IEndpointRouteBuilder MapMetricsApis(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").RequireAuthorization(Microsoft.Extensions.Hosting.ApiAccess.MetricsPolicy);
        var cached = v1.MapGroup("").CacheOutput(TenantOutputCachePolicy.Name);

        cached.MapEventsApi();
        cached.MapTrendsApi();
        cached.MapActiveUsersApi();
        cached.MapSessionsApi();
        cached.MapFeatureAdoptionApi();
        v1.MapTimelineApi();
        app.MapGrafanaApi();
        cached.MapFunnelsApi();
        cached.MapRetentionApi();
        v1.MapPipelineHealthApi(); // not cached: it reports the pipeline's state now
        return app;
    }
}
