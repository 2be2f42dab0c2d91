using System.Security.Claims;
using Api.Metrics;
using Api.Querying;
using Microsoft.AspNetCore.Mvc;

namespace Microsoft.AspNetCore.Builder;

public static class TrendsApi
{
    public static RouteGroupBuilder MapTrendsApi(this RouteGroupBuilder v1)
    {
        var api = v1.MapGroup("/trends").WithTags("Trends");
        api.MapGet("/", GetTrendsAsync)
            .WithName("GetTrends")
            .WithSummary("Counts or unique users of events per minute, hour, day or week, with filters and a breakdown.")
            .WithDescription("event (repeatable; none: all events as one series), measure=count|users, interval=minute|hour|day|week, from/to (date or ISO instant; default the last 7 days), tz (IANA; default the tenant's), filter=dimension:op:value (repeatable), breakdown=dimension, source=auto|events|raw.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return api;
    }

    public static async Task<TrendsResponse> GetTrendsAsync(
        ClaimsPrincipal user, MetricsContext context, TrendsQuery query,
        [FromQuery(Name = "event")] string[]? events, string? measure, string? interval, string? from, string? to, string? tz,
        [FromQuery(Name = "filter")] string[]? filters, string? breakdown, string? source, CancellationToken cancellationToken)
    {
        var scope = await context.ScopeAsync(user, cancellationToken);
        var request = new TrendsRequest(
            context.Range(scope, from, to, tz, TimeSpan.FromDays(7)),
            Intervals.Parse(interval, Interval.Day),
            measure switch
            {
                null or "" or "count" => TrendMeasure.Count,
                "users" => TrendMeasure.Users,
                _ => throw new BadQueryException("measure", "Unknown measure", "'measure' must be count or users."),
            },
            context.EventList("event", events),
            context.Filters("filter", filters),
            string.IsNullOrEmpty(breakdown) ? null : Dimension.Parse("breakdown", breakdown),
            QuerySources.Parse(source));
        request.Interval.EnsureBuckets(request.Range, context.Options.Value.MaxBuckets);
        return await query.RunAsync(scope, request, cancellationToken);
    }
}
