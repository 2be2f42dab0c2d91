using System.Security.Claims;
using Api.Metrics;
using Api.Querying;

namespace Microsoft.AspNetCore.Builder;

public static class RetentionApi
{
    private const int MaxPeriods = 90;

    public static RouteGroupBuilder MapRetentionApi(this RouteGroupBuilder v1)
    {
        var api = v1.MapGroup("/retention").WithTags("Retention");
        api.MapGet("/", GetRetentionAsync)
            .WithName("GetRetention")
            .WithSummary("Cohorts by the local day or week of each actor's first (cohort) event, and how many of them came back in each following period.")
            .WithDescription("cohort_event, return_event (none: any event), grain=day|week, periods=1..90 (default 8), from/to (date or ISO instant; default the last 30 days), tz (IANA; default the tenant's), source=auto|events|raw. See docs/api-funnels-retention.md.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return api;
    }

    public static async Task<RetentionResponse> GetRetentionAsync(
        ClaimsPrincipal user, MetricsContext context, RetentionQuery query,
        string? cohort_event, string? return_event, string? grain, string? periods, string? from, string? to, string? tz, string? source,
        CancellationToken cancellationToken)
    {
        var scope = await context.ScopeAsync(user, cancellationToken);
        var request = new RetentionRequest(
            context.Range(scope, from, to, tz, TimeSpan.FromDays(30)),
            grain switch
            {
                null or "" or "day" => RetentionGrain.Day,
                "week" => RetentionGrain.Week,
                _ => throw new BadQueryException("grain", "Unknown grain", "'grain' must be day or week."),
            },
            ParsePeriods(periods),
            string.IsNullOrEmpty(cohort_event) ? null : EventNames.Validate("cohort_event", cohort_event),
            string.IsNullOrEmpty(return_event) ? null : EventNames.Validate("return_event", return_event),
            QuerySources.Parse(source));
        return await query.RunAsync(scope, request, cancellationToken);
    }

    /// <summary>Taken as text so that "abc" or "1e9" is a 400 naming 'periods', not the framework's bare 400.</summary>
    private static int ParsePeriods(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 8;
        }

        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= MaxPeriods
            ? n
            : throw new BadQueryException("periods", "Bad periods", $"'periods' must be a whole number 1-{MaxPeriods}.");
    }
}
