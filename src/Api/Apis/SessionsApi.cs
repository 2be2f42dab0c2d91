using System.Security.Claims;
using Api.Metrics;
using Api.Querying;

namespace Microsoft.AspNetCore.Builder;

public static class SessionsApi
{
    public static RouteGroupBuilder MapSessionsApi(this RouteGroupBuilder v1)
    {
        var api = v1.MapGroup("/sessions").WithTags("Sessions");
        api.MapGet("/", GetSessionsAsync)
            .WithName("GetSessions")
            .WithSummary("Sessions that started in the range: count, median and p95 duration, events per session, a duration histogram; optionally per country or device.")
            .WithDescription("from/to (date or ISO instant; default the last 7 days), tz (IANA; default the tenant's), breakdown=country|device, source=auto|events|raw. Days the Transformer's sessions model holds whole are read from it, the rest sessionized from events by the same rules; sources and asOf say which.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return api;
    }

    public static async Task<SessionsResponse> GetSessionsAsync(
        ClaimsPrincipal user, MetricsContext context, SessionsQuery query,
        string? from, string? to, string? tz, string? breakdown, string? source, CancellationToken cancellationToken)
    {
        var scope = await context.ScopeAsync(user, cancellationToken);
        var request = new SessionsRequest(
            context.Range(scope, from, to, tz, TimeSpan.FromDays(7)),
            breakdown switch
            {
                null or "" => SessionBreakdown.None,
                "country" => SessionBreakdown.Country,
                "device" => SessionBreakdown.Device,
                _ => throw new BadQueryException("breakdown", "Unknown breakdown", "Sessions may be broken down by country or device."),
            },
            QuerySources.Parse(source));
        return await query.RunAsync(scope, request, cancellationToken);
    }
}
