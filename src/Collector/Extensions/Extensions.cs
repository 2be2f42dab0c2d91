using System.Threading.RateLimiting;
using Collector;
using Collector.Intake;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Platform.Tenancy;

namespace Microsoft.Extensions.Hosting;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<CollectorOptions>()
            .BindConfiguration(CollectorOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, CollectorJsonContext.Default));
        builder.AddKafkaProducer("kafka");
        builder.AddTenantDirectory("platform");
        builder.AddApiKeyAuthentication(ApiKeyKind.Write);
        builder.AddAdminTokenAuthentication($"{CollectorOptions.Section}:{nameof(CollectorOptions.AdminToken)}");
        builder.AddTrustedProxies();
        builder.AddRateLimits();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<EventPublisher>();
        builder.Services.AddSingleton<IntakeRateLimiter>();
        builder.Services.AddSingleton<EventIntake>();
        builder.Services.AddSingleton<IngestBacklog>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<IngestBacklog>());
        builder.Services.AddProblemFor<Npgsql.NpgsqlException>(StatusCodes.Status503ServiceUnavailable, "Key store unavailable");
    }

    public static void MapApplicationEndpoints(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<CollectorOptions>>().Value.TrustedProxies.Count > 0)
        {
            app.UseForwardedHeaders(); // before the rate limiter, which partitions by the client address
        }

        app.UseRateLimiter();
        app.MapEventsApi();
        app.MapSegmentApi();
        if (app.Services.GetRequiredService<IOptions<CollectorOptions>>().Value.AdminToken is not null)
        {
            app.MapAdminApi();
        }
    }

    /// <summary>
    /// X-Forwarded-For from the configured proxies only: ASP.NET Core trusts loopback by default, which would let any local
    /// client (or a proxy that passes the header through) choose its rate-limit partition. The middleware walks the header
    /// from the right while each hop is a trusted proxy, so a chain of them works and a spoofed left part is never used.
    /// </summary>
    private static void AddTrustedProxies(this IHostApplicationBuilder builder)
    {
        var proxies = builder.Configuration.GetSection($"{CollectorOptions.Section}:{nameof(CollectorOptions.TrustedProxies)}").Get<List<string>>() ?? [];
        builder.Services.Configure<ForwardedHeadersOptions>(forwarded =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor;
            forwarded.ForwardLimit = null;
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var proxy in proxies)
            {
                // Malformed entries fail CollectorOptions' validation at start.
                if (System.Net.IPNetwork.TryParse(proxy, out var network) && proxy.Contains('/'))
                {
                    forwarded.KnownIPNetworks.Add(network);
                }
                else if (System.Net.IPAddress.TryParse(proxy, out var address))
                {
                    forwarded.KnownProxies.Add(address);
                }
            }
        });
    }

    /// <summary>Requests per second per client IP; the per-tenant event limit is <see cref="IntakeRateLimiter"/>.</summary>
    private static void AddRateLimits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(RateLimitOptions.PerClientPolicy, context =>
            {
                var perSecond = context.RequestServices.GetRequiredService<IOptions<CollectorOptions>>().Value.RateLimits.RequestsPerSecondPerClient;
                return RateLimitPartition.GetTokenBucketLimiter(context.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = perSecond * 2,
                    TokensPerPeriod = RateLimitOptions.TokensPerPeriod(perSecond),
                    ReplenishmentPeriod = RateLimitOptions.Period(perSecond),
                    QueueLimit = 0,
                });
            });
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var context = rejected.HttpContext;
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
                context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString();
                await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context,
                    ProblemDetails =
                    {
                        Status = StatusCodes.Status429TooManyRequests,
                        Title = "Too many requests",
                        Detail = "This client address sends more requests per second than allowed; retry after the Retry-After interval.",
                    },
                });
            };
        });
    }
}
