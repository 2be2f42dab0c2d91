using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Turns exceptions that describe a dependency's state (a database down, a query timing out) into a
/// precise problem-details answer instead of a 500. Each service registers the ones its
/// dependencies throw: <c>builder.Services.AddProblemFor&lt;NpgsqlException&gt;(503, "...")</c>.
/// </summary>
public static class ProblemMappingExtensions
{
    public static IServiceCollection AddProblemFor<TException>(
        this IServiceCollection services, int statusCode, string title, Func<TException, bool>? when = null, int retryAfterSeconds = 5)
        where TException : Exception
    {
        services.AddSingleton(new ProblemMapping(
            ex => ex is TException typed && (when is null || when(typed)), statusCode, title, retryAfterSeconds));
        // One handler serves every mapping; AddExceptionHandler would add another copy per call.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IExceptionHandler, MappedProblemExceptionHandler>());
        return services;
    }
}

public sealed record ProblemMapping(Func<Exception, bool> Matches, int StatusCode, string Title, int RetryAfterSeconds);

internal sealed class MappedProblemExceptionHandler(
    IEnumerable<ProblemMapping> mappings, IProblemDetailsService problems, ILogger<MappedProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        // Unwrap the aggregate/inner layers async code adds, so the mapping sees the real cause.
        var cause = exception;
        while (cause is AggregateException { InnerException: { } inner })
        {
            cause = inner;
        }

        var mapping = mappings.FirstOrDefault(m => m.Matches(cause));
        if (mapping is null)
        {
            return false;
        }

        logger.LogWarning("{Method} {Path} answered {Status}: {Error}", context.Request.Method, context.Request.Path, mapping.StatusCode, cause.Message);
        context.Response.StatusCode = mapping.StatusCode;
        if (mapping.StatusCode is StatusCodes.Status503ServiceUnavailable or StatusCodes.Status429TooManyRequests)
        {
            context.Response.Headers.RetryAfter = mapping.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = cause,
            ProblemDetails =
            {
                Status = mapping.StatusCode,
                Title = mapping.Title,
                Detail = "A dependency of this service is unavailable or too slow right now; nothing was changed. Retry later.",
            },
        });
    }
}
