using System.IO.Compression;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Collector.Intake;

/// <summary>Reads an intake request's JSON body within the size limit, plain or gzip.</summary>
public static class RequestBody
{
    public static async Task<(JsonDocument? Document, byte[] Bytes, ProblemHttpResult? Problem)> ReadJsonAsync(HttpRequest request, CollectorOptions options, CancellationToken cancellationToken)
    {
        if (request.ContentType is not { } contentType || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, [], IntakeProblems.Create(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type", "Send events as 'Content-Type: application/json'."));
        }

        var (bytes, problem) = await ReadAsync(request, options.MaxRequestBytes, cancellationToken);
        if (problem is not null)
        {
            return (null, [], problem);
        }

        try
        {
            return (JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 16 }), bytes, null);
        }
        catch (JsonException ex)
        {
            return (null, bytes, IntakeProblems.Create(StatusCodes.Status400BadRequest, "Malformed JSON", $"The body is not valid JSON: {ex.Message}"));
        }
    }

    private static async Task<(byte[] Bytes, ProblemHttpResult? Problem)> ReadAsync(HttpRequest request, int maxBytes, CancellationToken cancellationToken)
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
            return ([], IntakeProblems.Create(StatusCodes.Status415UnsupportedMediaType, "Unsupported content encoding", "Bodies may be sent plain or with 'Content-Encoding: gzip'."));
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
            return ([], IntakeProblems.Create(StatusCodes.Status400BadRequest, "Malformed gzip body", "The body is not valid gzip data."));
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
        IntakeProblems.Create(StatusCodes.Status413PayloadTooLarge, "Request too large", $"A request body may be at most {maxBytes} bytes.");
}

public static class IntakeProblems
{
    public static ProblemHttpResult Create(int status, string title, string detail, IReadOnlyList<EventError>? errors = null) =>
        TypedResults.Problem(detail, statusCode: status, title: title,
            extensions: errors is null ? null : new Dictionary<string, object?> { ["errors"] = errors });
}
