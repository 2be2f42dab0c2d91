using System.Threading.RateLimiting;
using Api;
using Api.Caching;
using Api.Querying;
using Microsoft.AspNetCore.Builder;
using Platform.ClickHouse;
using Platform.Tenancy;

namespace Microsoft.Extensions.Hosting;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ApiOptions>()
            .BindConfiguration(ApiOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
        builder.AddClickHouseClient("clickhouse");
        builder.AddTenantDirectory("platform");
        builder.AddApiAccess();
        builder.AddQueryLimits();
        builder.Services.AddOpenApi();

        // Bounded: one entry per model whose table's existence was checked, each of size 1.
        builder.Services.AddMemoryCache(o => o.SizeLimit = 100_000);
        builder.Services.AddSingleton<TenantScopes>();
        builder.Services.AddSingleton<ModelWatermarks>();
        builder.Services.AddSingleton<LateArrivals>();
        builder.Services.AddHostedService<QueryMetadataRefresher>();
        builder.Services.AddSingleton<TenantSources>();
        builder.Services.AddSingleton<MetricsQueryRunner>();
        builder.Services.AddSingleton<TenantQueries>();
        builder.AddMetricQueries();
        builder.AddAlerts();

        // A dependency's state is a 503 or 504 with a problem body, never a 500.
        builder.Services.AddExceptionHandler<BadQueryExceptionHandler>();
        builder.Services.AddProblemFor<Npgsql.NpgsqlException>(StatusCodes.Status503ServiceUnavailable, "Key store unavailable");
        builder.Services.AddProblemFor<ClickHouseUnavailableException>(StatusCodes.Status503ServiceUnavailable, "Event store unavailable");
        builder.Services.AddProblemFor<ClickHouseServerException>(StatusCodes.Status504GatewayTimeout, "Query took too long",
            when: ex => ex.Code is ClickHouseErrorCodes.TimeoutExceeded or ClickHouseErrorCodes.TooSlow);
        builder.Services.AddProblemFor<ClickHouseServerException>(StatusCodes.Status503ServiceUnavailable, "Event store not ready",
            when: ex => ex.Code is ClickHouseErrorCodes.UnknownTable or ClickHouseErrorCodes.UnknownDatabase or ClickHouseErrorCodes.TooManySimultaneousQueries);
    }

    /// <summary>
    /// A per-tenant concurrency limit (the built-in rate limiter, partitioned by the caller's tenant) and
    /// the tenant-keyed output cache for hot dashboard queries.
    /// </summary>
    private static void AddQueryLimits(this IHostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                context.User.FindFirst(TenantClaims.TenantId)?.Value is { } tenant
                    ? RateLimitPartition.GetConcurrencyLimiter(tenant, _ => new ConcurrencyLimiterOptions
                    {
                        PermitLimit = options.MaxConcurrentQueriesPerTenant,
                        QueueLimit = options.QueuedQueriesPerTenant,
                        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                    })
                    : RateLimitPartition.GetNoLimiter(""));
            limiter.OnRejected = async (context, cancellationToken) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = "1";
                await ApiAccess.WriteProblemAsync(context.HttpContext, StatusCodes.Status429TooManyRequests, "Too many concurrent queries",
                    $"This tenant already runs {options.MaxConcurrentQueriesPerTenant} queries with {options.QueuedQueriesPerTenant} waiting; retry shortly.");
            };
        });

        builder.Services.AddOutputCache(cache => cache.AddPolicy(TenantOutputCachePolicy.Name, new TenantOutputCachePolicy(Microsoft.Extensions.Options.Options.Create(options))));
    }
}
