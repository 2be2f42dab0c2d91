using System.Security.Claims;
using Api.Metrics;
using Api.Querying;

namespace Microsoft.AspNetCore.Builder;

public static class FeatureAdoptionApi
{
    public static RouteGroupBuilder MapFeatureAdoptionApi(this RouteGroupBuilder v1)
    {
        var api = v1.MapGroup("/feature-adoption").WithTags("Feature adoption");
        api.MapGet("/", GetFeatureAdoptionAsync)
            .WithName("GetFeatureAdoption")
            .WithSummary("Per weekly cohort of new actors: how many sent the feature's event at any time since.")
            .WithDescription("feature (an event name, required), from/to (date or ISO instant; default the last 12 weeks): the cohort weeks whose Monday is in [from, to), tz (IANA; default the tenant's), source=auto|events|raw.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return api;
    }

    public static async Task<FeatureAdoptionResponse> GetFeatureAdoptionAsync(
        ClaimsPrincipal user, MetricsContext context, FeatureAdoptionQuery query,
        string? feature, string? from, string? to, string? tz, string? source, CancellationToken cancellationToken)
    {
        var scope = await context.ScopeAsync(user, cancellationToken);
        var request = new FeatureAdoptionRequest(
            EventNames.Validate("feature", feature),
            context.Range(scope, from, to, tz, TimeSpan.FromDays(84)),
            QuerySources.Parse(source));
        return await query.RunAsync(scope, request, cancellationToken);
    }
}
