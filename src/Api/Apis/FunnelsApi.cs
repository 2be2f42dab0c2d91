using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using Api.Metrics;
using Api.Querying;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Microsoft.AspNetCore.Builder;

public static class FunnelsApi
{
    /// <summary>A funnel definition is small; anything bigger is not one.</summary>
    public const int MaxBodyBytes = 64 * 1024;

    private const long MaxWindowSeconds = 90L * 24 * 3600;

    public static RouteGroupBuilder MapFunnelsApi(this RouteGroupBuilder v1)
    {
        var api = v1.MapGroup("/funnels").WithTags("Funnels");
        api.MapPost("/", PostFunnelAsync)
            .WithName("GetFunnel")
            .WithSummary("Ordered conversion funnel of 2 or more steps per actor, with a conversion window and an optional breakdown by the entry event.")
            .WithDescription("JSON body (camelCase): from, to (date or ISO instant; bound the entry), tz, windowSeconds (default 86400, at most 90 days), steps: [{event, filters: [{dimension, op, values}]}], breakdown, source=auto|events|raw. See docs/api-funnels-retention.md.")
            .Accepts<FunnelBody>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        return api;
    }

    public static async Task<Results<Ok<FunnelResponse>, ProblemHttpResult>> PostFunnelAsync(
        HttpRequest http, ClaimsPrincipal user, MetricsContext context, FunnelQuery query, CancellationToken cancellationToken)
    {
        if (!http.HasJsonContentType())
        {
            return TypedResults.Problem("Send the funnel as 'Content-Type: application/json'.", statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type");
        }

        var body = await ReadBodyAsync(http, cancellationToken);
        if (body is null)
        {
            return TypedResults.Problem($"A funnel definition may be at most {MaxBodyBytes / 1024} KB.", statusCode: StatusCodes.Status413PayloadTooLarge, title: "Body too large");
        }

        var scope = await context.ScopeAsync(user, cancellationToken);
        var request = Parse(Deserialize(body), scope, context);
        return TypedResults.Ok(await query.RunAsync(scope, request, cancellationToken));
    }

    /// <summary>The body, or null when it is larger than <see cref="MaxBodyBytes"/> (checked while reading, so a lying or absent Content-Length changes nothing).</summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        if (http.ContentLength > MaxBodyBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await http.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static FunnelBody Deserialize(byte[] body)
    {
        try
        {
            return JsonSerializer.Deserialize(body, FunnelBodyJsonContext.Default.FunnelBody)
                ?? throw new BadQueryException("body", "Bad funnel", "The body must be a JSON object.");
        }
        catch (JsonException ex)
        {
            // The reader's message names the position or the unknown property; it never echoes values.
            throw new BadQueryException("body", "Bad funnel", $"The body is not a funnel definition: {ex.Message}");
        }
    }

    private static FunnelRequest Parse(FunnelBody body, TenantScope scope, MetricsContext context)
    {
        var options = context.Options.Value;
        var window = body.WindowSeconds ?? 86_400;
        if (window is < 1 or > MaxWindowSeconds)
        {
            throw new BadQueryException("windowSeconds", "Bad window", $"'windowSeconds' must be 1-{MaxWindowSeconds} (90 days).");
        }

        var steps = body.Steps ?? [];
        if (steps.Count < 2 || steps.Count > options.MaxFunnelSteps)
        {
            throw new BadQueryException("steps", "Bad steps", $"A funnel has 2-{options.MaxFunnelSteps} steps.");
        }

        return new FunnelRequest(
            context.Range(scope, body.From, body.To, body.Tz, TimeSpan.FromDays(7)),
            TimeSpan.FromSeconds(window),
            steps.Select((step, i) => ParseStep(step, $"steps[{i}]", options.MaxFilters)).ToList(),
            string.IsNullOrEmpty(body.Breakdown) ? null : Dimension.Parse("breakdown", body.Breakdown),
            QuerySources.Parse(body.Source));
    }

    private static FunnelStep ParseStep(FunnelStepBody? step, string parameter, int maxFilters)
    {
        if (step is null)
        {
            throw new BadQueryException(parameter, "Bad step", "A step is an object {event, filters}.");
        }

        var filters = step.Filters ?? [];
        if (filters.Count > maxFilters)
        {
            throw new BadQueryException($"{parameter}.filters", "Too many filters", $"A step may have at most {maxFilters} filters.");
        }

        return new FunnelStep(
            EventNames.Validate($"{parameter}.event", step.Event),
            filters.Select(f => f is null
                ? throw new BadQueryException($"{parameter}.filters", "Bad filter", "A filter is an object {dimension, op, values}.")
                : EventFilter.Create($"{parameter}.filters", f.Dimension ?? "", f.Op ?? "", f.Values ?? [])).ToList());
    }
}

/// <summary>The funnel definition as posted (camelCase; unknown fields are refused).</summary>
public sealed record FunnelBody(string? From, string? To, string? Tz, long? WindowSeconds, List<FunnelStepBody?>? Steps, string? Breakdown, string? Source);

public sealed record FunnelStepBody(string? Event, List<FunnelFilterBody?>? Filters);

public sealed record FunnelFilterBody(string? Dimension, string? Op, List<string>? Values);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow, PropertyNameCaseInsensitive = false)]
[JsonSerializable(typeof(FunnelBody))]
internal sealed partial class FunnelBodyJsonContext : JsonSerializerContext;
