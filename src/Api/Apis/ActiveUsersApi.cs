using System.Security.Claims;
using Api.Metrics;
using Api.Querying;
using Microsoft.AspNetCore.Mvc;

namespace Microsoft.AspNetCore.Builder;

public static class ActiveUsersApi
{
    public static RouteGroupBuilder MapActiveUsersApi(this RouteGroupBuilder v1)
    {
        var api = v1.MapGroup("/active-users").WithTags("Active users");
        api.MapGet("/", GetActiveUsersAsync)
            .WithName("GetActiveUsers")
            .WithSummary("DAU, WAU and MAU for every day of a range: distinct users that day, over the 7 and the 30 days ending with it.")
            .WithDescription("from/to (date or ISO instant; default the last 30 days), tz (IANA; default the tenant's), breakdown=dimension, filter=dimension:op:value (repeatable), source=auto|events|raw.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return api;
    }

    public static async Task<ActiveUsersResponse> GetActiveUsersAsync(
        ClaimsPrincipal user, MetricsContext context, ActiveUsersQuery query,
        string? from, string? to, string? tz, string? breakdown, [FromQuery(Name = "filter")] string[]? filters, string? source, CancellationToken cancellationToken)
    {
        var scope = await context.ScopeAsync(user, cancellationToken);
        var request = new ActiveUsersRequest(
            context.Range(scope, from, to, tz, TimeSpan.FromDays(30)),
            context.Filters("filter", filters),
            string.IsNullOrEmpty(breakdown) ? null : Dimension.Parse("breakdown", breakdown),
            QuerySources.Parse(source));
        return await query.RunAsync(scope, request, cancellationToken);
    }
}
