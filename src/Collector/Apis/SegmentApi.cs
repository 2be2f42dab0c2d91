using System.Security.Claims;
using Collector;
using Collector.Intake;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Platform.Events;
using Platform.Tenancy;

namespace Microsoft.AspNetCore.Builder;

/// <summary>
/// Segment's HTTP tracking API on our host, so analytics SDKs work unchanged: the write key as the
/// Basic user name or as <c>writeKey</c> in the body, 200 <c>{"success": true}</c> on success.
/// </summary>
public static class SegmentApi
{
    public static RouteGroupBuilder MapSegmentApi(this IEndpointRouteBuilder app)
    {
        // Anonymous at the door: the key may be in the body, which only the endpoint reads.
        var api = app.MapGroup("/v1").WithTags("Segment").AllowAnonymous().RequireRateLimiting(RateLimitOptions.PerClientPolicy);

        foreach (var type in SegmentReader.CallTypes)
        {
            api.MapPost($"/{type}", (HttpRequest request, ClaimsPrincipal user, EventIntake intake, TenantDirectory tenants, IOptions<CollectorOptions> options, CancellationToken cancellationToken) =>
                    PostAsync(type, request, user, intake, tenants, options.Value, cancellationToken))
                .WithName($"Segment{char.ToUpperInvariant(type[0])}{type[1..]}")
                .WithSummary($"Segment's {type} call.");
        }

        api.MapPost("/batch", (HttpRequest request, ClaimsPrincipal user, EventIntake intake, TenantDirectory tenants, IOptions<CollectorOptions> options, CancellationToken cancellationToken) =>
                PostAsync(null, request, user, intake, tenants, options.Value, cancellationToken))
            .WithName("SegmentBatch")
            .WithSummary("Segment's batch call: calls of any type sharing the batch's context and sentAt.");

        return api;
    }

    public static async Task<Results<Ok<SegmentResult>, ProblemHttpResult>> PostAsync(
        string? type, HttpRequest request, ClaimsPrincipal user, EventIntake intake, TenantDirectory tenants, CollectorOptions options, CancellationToken cancellationToken)
    {
        var headerKey = ApiKeyAuthenticationHandler.ReadKey(request);
        var tenantId = user.FindFirst(TenantClaims.TenantId)?.Value;
        if (headerKey is not null && tenantId is null)
        {
            return UnknownKey("The write key is unknown or revoked.");
        }

        var (document, bytes, problem) = await RequestBody.ReadJsonAsync(request, options, cancellationToken);
        if (problem is not null)
        {
            if (tenantId is not null && bytes.Length > 0)
            {
                await intake.DeadLetterBodyAsync(tenantId, bytes, problem, cancellationToken);
            }

            return problem;
        }

        using (document)
        {
            var root = document!.RootElement;
            if (tenantId is null)
            {
                if (SegmentReader.WriteKey(root) is not { Length: > 0 } bodyKey)
                {
                    return UnknownKey("Send the write key as 'Authorization: Basic base64(KEY:)' or as \"writeKey\" in the body.");
                }

                tenantId = await tenants.ResolveAsync(bodyKey, ApiKeyKind.Write, cancellationToken);
                if (tenantId is null)
                {
                    return UnknownKey("The write key is unknown or revoked.");
                }
            }

            if (!SegmentReader.TryGetItems(root, type, out var items, out var shapeProblem))
            {
                var unexpected = IntakeProblems.Create(StatusCodes.Status400BadRequest, "Unexpected body", shapeProblem!);
                await intake.DeadLetterBodyAsync(tenantId, bytes, unexpected, cancellationToken);
                return unexpected;
            }

            var (result, refused) = await intake.AcceptAsync(request.HttpContext, tenantId, items,
                (item, index, errors) => SegmentReader.Read(item, index, type, root, options, errors), cancellationToken);
            return refused is not null ? refused : TypedResults.Ok(new SegmentResult(true, result!.Accepted, result.Rejected, result.Errors));
        }
    }

    private static ProblemHttpResult UnknownKey(string detail) =>
        IntakeProblems.Create(StatusCodes.Status401Unauthorized, "Unknown write key", detail);
}

/// <summary>Segment's answer (<c>success</c>) with our per-event detail beside it.</summary>
public sealed record SegmentResult(bool Success, int Accepted, int Rejected, IReadOnlyList<EventError> Errors);
