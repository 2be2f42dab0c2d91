using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Platform.Tenancy;

/// <summary>The admin paths' request bodies: JSON objects of at most 64 KB, or a precise problem.</summary>
public static class AdminRequests
{
    public const int MaxBodyBytes = 64 * 1024;

    public static async Task<(T? Value, ProblemHttpResult? Problem)> ReadJsonAsync<T>(HttpRequest request, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
        where T : class
    {
        if (request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) != true)
        {
            return (null, Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type", "Send 'Content-Type: application/json'."));
        }

        if (request.ContentLength > MaxBodyBytes)
        {
            return (null, Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", "An admin request body may be at most 64 KB."));
        }

        try
        {
            // A body without Content-Length is cut off past the bound rather than read whole.
            using var bounded = new MemoryStream();
            var buffer = new byte[8192];
            int read;
            while ((read = await request.Body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                if (bounded.Length + read > MaxBodyBytes)
                {
                    return (null, Problem(StatusCodes.Status413PayloadTooLarge, "Request too large", "An admin request body may be at most 64 KB."));
                }

                bounded.Write(buffer, 0, read);
            }

            bounded.Position = 0;
            return JsonSerializer.Deserialize(bounded, typeInfo) is { } value
                ? (value, null)
                : (null, Problem(StatusCodes.Status400BadRequest, "Malformed JSON", "The body must be a JSON object."));
        }
        catch (JsonException ex)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, "Malformed JSON", ex.Message));
        }
    }

    public static ProblemHttpResult Problem(int status, string title, string detail) => TypedResults.Problem(detail, statusCode: status, title: title);
}
