using System.Security.Claims;
using Api;
using Api.Querying;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Platform.Tenancy;

namespace Microsoft.AspNetCore.Builder;

public static class EventsApi
{
    public static RouteGroupBuilder MapEventsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/events").WithTags("Events");

        api.MapGet("/count", CountEventsAsync)
            .WithName("CountEvents")
            .WithSummary("Distinct events per event name over [from, to) (default: the last 24 hours), for the caller's tenant.");

        return api;
    }

    public static async Task<Results<Ok<EventCountResponse>, ProblemHttpResult>> CountEventsAsync(
        ClaimsPrincipal user, [AsParameters] QueryServices services, string? from, string? to, string? @event, CancellationToken cancellationToken)
    {
        var tenantId = user.GetTenantId();
        var now = services.Time.GetUtcNow();
        if (!TryParseInstant(to, now, out var end) || !TryParseInstant(from, end.AddDays(-1), out var start))
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad time range", "'from' and 'to' must be ISO-8601 date-times with a UTC offset, e.g. 2026-01-31T00:00:00Z.");
        }

        if (start >= end)
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad time range", "'from' must be before 'to'.");
        }

        if (end - start > TimeSpan.FromDays(services.Options.Value.MaxRangeDays))
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad time range", $"A range may span at most {services.Options.Value.MaxRangeDays} days.");
        }

        if (@event is { Length: 0 or > 128 })
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad event name", "'event' must be 1-128 characters.");
        }

        var counts = await services.Queries.CountEventsAsync(tenantId, start, end, @event, cancellationToken);
        return TypedResults.Ok(new EventCountResponse(start, end, counts.Sum(c => c.Count), counts));
    }

    private static bool TryParseInstant(string? text, DateTimeOffset fallback, out DateTimeOffset value)
    {
        if (string.IsNullOrEmpty(text))
        {
            value = fallback;
            return true;
        }

        value = default;
        return (text.EndsWith('Z') || text.EndsWith('z') || (text.Length > 6 && text[^6] is '+' or '-'))
            && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out value)
            && value.Year is >= 1971 and <= 2100;
    }

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(detail, statusCode: status, title: title);
}

public sealed record EventCountResponse(DateTimeOffset From, DateTimeOffset To, long Total, IReadOnlyList<EventCount> Events);

[System.Text.Json.Serialization.JsonSerializable(typeof(EventCountResponse))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
internal sealed partial class ApiJsonContext : System.Text.Json.Serialization.JsonSerializerContext;

public sealed class QueryServices(TenantQueries queries, IOptions<ApiOptions> options, TimeProvider time)
{
    public TenantQueries Queries { get; } = queries;

    public IOptions<ApiOptions> Options { get; } = options;

    public TimeProvider Time { get; } = time;
}
