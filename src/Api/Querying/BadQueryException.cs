using Microsoft.AspNetCore.Diagnostics;

namespace Api.Querying;

/// <summary>A question the Api cannot answer as asked: answered as a 400 problem naming the parameter.</summary>
public sealed class BadQueryException(string parameter, string title, string detail) : Exception(detail)
{
    public string Parameter { get; } = parameter;

    public string Title { get; } = title;
}

internal sealed class BadQueryExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadQueryException bad)
        {
            return false;
        }

        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = bad,
            ProblemDetails =
            {
                Status = StatusCodes.Status400BadRequest,
                Title = bad.Title,
                Detail = bad.Message,
                Extensions = { ["parameter"] = bad.Parameter },
            },
        });
    }
}
