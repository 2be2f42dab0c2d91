using System.IO.Compression;
using System.Security.Claims;
using System.Text.Json;
using Collector;
using Collector.Intake;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Platform.Events;
using Platform.Tenancy;

namespace Microsoft.AspNetCore.Builder;

public static class EventsApi
{
    public static RouteGroupBuilder MapEventsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1").WithTags("Events").RequireAuthorization();

        api.MapPost("/events", PostEventsAsync)
            .WithName("PostEvents")
            .WithSummary("Accept one event, an array of events, or {\"batch\": [...]}; answered after Kafka acknowledged them.");

        return api;
    }

    public static async Task<Results<Accepted<IntakeResult>, ProblemHttpResult>> PostEventsAsync(
        HttpRequest request, ClaimsPrincipal user, [AsParameters] IntakeServices services, CancellationToken cancellationToken)
    {
        var options = services.Options.Value;
        var tenantId = user.GetTenantId();
        if (request.ContentType is not { } contentType || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type", "Send events as 'Content-Type: application/json'.");
        }

        var body = await ReadBodyAsync(request, options.MaxRequestBytes, cancellationToken);
        if (body.Problem is { } bodyProblem)
        {
            return bodyProblem;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.Bytes, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            return Problem(StatusCodes.Status400BadRequest, "Malformed JSON", $"The body is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            if (!EventParser.TryGetItems(document.RootElement, out var items, out var shapeProblem))
            {
                return Problem(StatusCodes.Status400BadRequest, "Unexpected body", shapeProblem!);
            }

            if (items.Count == 0)
            {
                return Problem(StatusCodes.Status400BadRequest, "No events", "The request contains no events.");
            }

            if (items.Count > options.MaxEventsPerRequest)
            {
                return Problem(StatusCodes.Status413PayloadTooLarge, "Too many events", $"A request may carry at most {options.MaxEventsPerRequest} events.");
            }

            var receivedAt = services.Time.GetUtcNow();
            var errors = new List<EventError>();
            var accepted = new List<CollectedEvent>(items.Count);
            for (var i = 0; i < items.Count; i++)
            {
                if (EventParser.Parse(items[i], i, tenantId, receivedAt, options.MaxEventBytes, errors) is { } collected)
                {
                    accepted.Add(collected);
                }
            }

            if (accepted.Count == 0)
            {
                return Problem(StatusCodes.Status400BadRequest, "No valid events", "Every event in the request was refused.", errors);
            }

            if (!await services.Publisher.PublishAsync(accepted, cancellationToken))
            {
                request.HttpContext.Response.Headers.RetryAfter = "5";
                return Problem(StatusCodes.Status503ServiceUnavailable, "Event store unavailable",
                    "Kafka did not acknowledge the events in time; nothing in this request is guaranteed stored. Retry with the same event_id values.");
            }

            return TypedResults.Accepted((string?)null, new IntakeResult(accepted.Count, errors.Count, errors));
        }
    }

    private static async Task<(byte[] Bytes, ProblemHttpResult? Problem)> ReadBodyAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes)
        {
            return ([], TooLarge(maxBytes));
        }

        var encoding = request.Headers.ContentEncoding.ToString();
        Stream source = request.Body;
        if (encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase))
        {
            source = new GZipStream(request.Body, CompressionMode.Decompress, leaveOpen: true);
        }
        else if (encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return ([], Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported content encoding", "Bodies may be sent plain or with 'Content-Encoding: gzip'."));
        }

        // The limit applies to the decompressed size too, so a small gzip bomb cannot exhaust memory.
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await source.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (buffer.Length + read > maxBytes)
                {
                    return ([], TooLarge(maxBytes));
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (InvalidDataException)
        {
            return ([], Problem(StatusCodes.Status400BadRequest, "Malformed gzip body", "The body is not valid gzip data."));
        }
        finally
        {
            if (source != request.Body)
            {
                await source.DisposeAsync();
            }
        }

        return (buffer.ToArray(), null);
    }

    private static ProblemHttpResult TooLarge(int maxBytes) =>
        Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", $"A request body may be at most {maxBytes} bytes.");

    private static ProblemHttpResult Problem(int status, string title, string detail, IReadOnlyList<EventError>? errors = null) =>
        TypedResults.Problem(detail, statusCode: status, title: title,
            extensions: errors is null ? null : new Dictionary<string, object?> { ["errors"] = errors });
}

public sealed record IntakeResult(int Accepted, int Rejected, IReadOnlyList<EventError> Errors);

[System.Text.Json.Serialization.JsonSerializable(typeof(IntakeResult))]
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<EventError>))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
internal sealed partial class CollectorJsonContext : System.Text.Json.Serialization.JsonSerializerContext;

public sealed class IntakeServices(EventPublisher publisher, IOptions<CollectorOptions> options, TimeProvider time)
{
    public EventPublisher Publisher { get; } = publisher;

    public IOptions<CollectorOptions> Options { get; } = options;

    public TimeProvider Time { get; } = time;
}
