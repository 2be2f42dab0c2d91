using System.Security.Cryptography;
using Api;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Options;
using Platform.Tenancy;

namespace Api.Caching;

/// <summary>
/// Output caching for hot dashboard queries: answers are kept for <see cref="ApiOptions.CacheDuration"/>,
/// keyed by the caller's tenant, the path, the query string and (for Grafana's POSTs) a hash of the
/// body. A request without a tenant is never cached, and nothing but a 200 is stored.
/// </summary>
public sealed class TenantOutputCachePolicy(IOptions<ApiOptions> options) : IOutputCachePolicy
{
    public const string Name = "tenant";
    private const int MaxCachedBody = 64 * 1024;

    async ValueTask IOutputCachePolicy.CacheRequestAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        var tenant = context.HttpContext.User.FindFirst(TenantClaims.TenantId)?.Value;
        var request = context.HttpContext.Request;
        var duration = options.Value.CacheDuration;
        if (tenant is null || duration <= TimeSpan.Zero || !(HttpMethods.IsGet(request.Method) || HttpMethods.IsPost(request.Method)))
        {
            return;
        }

        context.CacheVaryByRules.VaryByValues["tenant"] = tenant;
        context.CacheVaryByRules.QueryKeys = "*";
        if (HttpMethods.IsPost(request.Method))
        {
            if (request.ContentLength is null or > MaxCachedBody)
            {
                return;
            }

            request.EnableBuffering();
            var body = new byte[(int)request.ContentLength];
            await request.Body.ReadExactlyAsync(body, cancellationToken);
            request.Body.Position = 0;
            context.CacheVaryByRules.VaryByValues["body"] = Convert.ToHexString(SHA256.HashData(body));
        }

        context.EnableOutputCaching = true;
        context.AllowCacheLookup = true;
        context.AllowCacheStorage = true;
        context.AllowLocking = true;
        context.ResponseExpirationTimeSpan = duration;
    }

    ValueTask IOutputCachePolicy.ServeFromCacheAsync(OutputCacheContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    ValueTask IOutputCachePolicy.ServeResponseAsync(OutputCacheContext context, CancellationToken cancellationToken)
    {
        var response = context.HttpContext.Response;
        if (response.StatusCode != StatusCodes.Status200OK || !Microsoft.Extensions.Primitives.StringValues.IsNullOrEmpty(response.Headers.SetCookie))
        {
            context.AllowCacheStorage = false;
        }

        return ValueTask.CompletedTask;
    }
}
