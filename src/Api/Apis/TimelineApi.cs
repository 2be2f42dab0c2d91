using System.Globalization;
using System.Security.Claims;
using Api.Metrics;
using Api.Querying;

namespace Microsoft.AspNetCore.Builder;

public static class TimelineApi
{
    /// <summary>
    /// Maps the user timeline on <paramref name="v1"/> itself, not on the cached group: one person's
    /// events are personal data (the users scope) and must never be served from a shared cache.
    /// </summary>
    public static RouteGroupBuilder MapTimelineApi(this RouteGroupBuilder v1)
    {
        var api = v1.MapGroup("/users").WithTags("Users")
            .RequireAuthorization(Microsoft.Extensions.Hosting.ApiAccess.UsersPolicy)
            .CacheOutput(p => p.NoCache());
        api.MapGet("/{userId}/events", GetTimelineAsync)
            .WithName("GetUserTimeline")
            .WithSummary("One person's events (user_id or anonymous_id equal to userId), newest first, in pages. Needs the 'users' scope.")
            .WithDescription("from/to (date or ISO instant; default the last 30 days), tz (IANA, for date bounds; default the tenant's), limit (1-1000, default 100), before (the nextBefore token of the previous page).")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        return api;
    }

    public static async Task<TimelineResponse> GetTimelineAsync(
        ClaimsPrincipal user, MetricsContext context, TimelineQuery query,
        string userId, string? from, string? to, string? tz, string? limit, string? before, CancellationToken cancellationToken)
    {
        var scope = await context.ScopeAsync(user, cancellationToken);
        if (userId is not { Length: > 0 and <= TimelineQuery.MaxUserIdLength } || userId.Any(char.IsControl))
        {
            throw new BadQueryException("userId", "Bad user id", $"The user id must be 1-{TimelineQuery.MaxUserIdLength} characters without control characters.");
        }

        var request = new TimelineRequest(
            userId,
            context.Range(scope, from, to, tz, TimeSpan.FromDays(30)),
            ParseLimit(limit),
            string.IsNullOrEmpty(before) ? null : TimelineCursor.Parse("before", before));
        return await query.RunAsync(scope, request, cancellationToken);
    }

    private static int ParseLimit(string? text) =>
        string.IsNullOrEmpty(text) ? 100
        : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= TimelineQuery.MaxLimit ? n
        : throw new BadQueryException("limit", "Bad limit", $"'limit' must be a whole number from 1 to {TimelineQuery.MaxLimit}.");
}
