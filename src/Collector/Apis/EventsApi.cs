using System.Security.Claims;
using Collector;
using Collector.Intake;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Platform.Tenancy;

namespace Microsoft.AspNetCore.Builder;

public static class EventsApi
{
    public static RouteGroupBuilder MapEventsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").WithTags("Events").RequireAuthorization().RequireRateLimiting(RateLimitOptions.PerClientPolicy);

        api.MapPost("/events", PostEventsAsync)
            .WithName("PostEvents")
            .WithSummary("Accept one event, an array of events, or {\"batch\": [...]}; answered after Kafka acknowledged them.");

        return api;
    }

    public static async Task<Results<Accepted<IntakeResult>, ProblemHttpResult>> PostEventsAsync(
        HttpRequest request, ClaimsPrincipal user, EventIntake intake, IOptions<CollectorOptions> options, CancellationToken cancellationToken)
    {
        var tenantId = user.GetTenantId();
        var (document, bytes, problem) = await RequestBody.ReadJsonAsync(request, options.Value, cancellationToken);
        if (problem is not null)
        {
            if (bytes.Length > 0)
            {
                await intake.DeadLetterBodyAsync(tenantId, bytes, problem, cancellationToken);
            }

            return problem;
        }

        using (document)
        {
            if (!EventReader.TryGetItems(document!.RootElement, out var items, out var shapeProblem))
            {
                var unexpected = IntakeProblems.Create(StatusCodes.Status400BadRequest, "Unexpected body", shapeProblem!);
                await intake.DeadLetterBodyAsync(tenantId, bytes, unexpected, cancellationToken);
                return unexpected;
            }

            var limits = options.Value;
            var (result, refused) = await intake.AcceptAsync(request.HttpContext, tenantId, items,
                (item, index, errors) => EventReader.Read(item, index, limits, errors), cancellationToken);
            return refused is not null ? refused : TypedResults.Accepted((string?)null, result);
        }
    }
}
