using System.Text;
using Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.IdentityModel.Tokens;
using Platform.Tenancy;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Who may read what: a read key (looked up, hashed, in the tenant directory) or a signed token
/// carrying <c>tenant_id</c> and <c>scope</c>. Either way the tenant comes from the credential only.
/// </summary>
public static class ApiAccess
{
    public const string Scheme = "ReadKeyOrToken";

    /// <summary>Aggregated metrics: every read credential.</summary>
    public const string MetricsPolicy = "metrics";

    /// <summary>One person's events: only credentials with the users scope.</summary>
    public const string UsersPolicy = "users";

    public static void AddApiAccess(this IHostApplicationBuilder builder)
    {
        builder.AddApiKeyAuthentication(ApiKeyKind.Read);
        var jwt = builder.Configuration.GetSection($"{ApiOptions.Section}:Jwt").Get<JwtOptions>() ?? new JwtOptions();

        builder.Services.AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "Read key or token", o => o.ForwardDefaultSelector = context =>
                TenantTokens.LooksLikeToken(ApiKeyAuthenticationHandler.ReadKey(context.Request)) ? JwtBearerDefaults.AuthenticationScheme : ApiKeyAuthenticationHandler.SchemeName)
            .AddJwtBearer(o =>
            {
                o.MapInboundClaims = false;
                o.TokenValidationParameters = TenantTokens.ValidationParameters(jwt);
                o.Events = new JwtBearerEvents
                {
                    OnTokenValidated = context =>
                    {
                        if (!TenantDirectory.IsValidTenantId(context.Principal?.FindFirst(TenantClaims.TenantId)?.Value))
                        {
                            context.Fail("The token carries no valid tenant_id claim.");
                        }

                        return Task.CompletedTask;
                    },
                    OnChallenge = async context =>
                    {
                        context.HandleResponse();
                        await WriteProblemAsync(context.HttpContext, StatusCodes.Status401Unauthorized, "Invalid token",
                            context.AuthenticateFailure is null ? "Send a read key or token as 'Authorization: Bearer ...'." : "The token is expired, not yet valid, or not signed with this platform's key.");
                    },
                };
            });

        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(MetricsPolicy, p => p.RequireClaim(TenantClaims.TenantId).RequireAssertion(c => c.User.HasScope(ApiScopes.Metrics)))
            .AddPolicy(UsersPolicy, p => p.RequireClaim(TenantClaims.TenantId).RequireAssertion(c => c.User.HasScope(ApiScopes.Users)));
        builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, ForbiddenAsProblem>();
    }

    internal static async Task WriteProblemAsync(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }

        await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }

    /// <summary>A 403 that says which scope is missing, as a problem body.</summary>
    private sealed class ForbiddenAsProblem : IAuthorizationMiddlewareResultHandler
    {
        private readonly Microsoft.AspNetCore.Authorization.Policy.AuthorizationMiddlewareResultHandler _default = new();

        public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, Microsoft.AspNetCore.Authorization.Policy.PolicyAuthorizationResult authorizeResult)
        {
            if (authorizeResult.Forbidden)
            {
                var needsUsers = policy.Requirements.Count > 0 && context.GetEndpoint()?.Metadata.GetOrderedMetadata<IAuthorizeData>().Any(a => a.Policy == UsersPolicy) == true;
                return WriteProblemAsync(context, StatusCodes.Status403Forbidden, "Missing scope",
                    needsUsers ? "Reading one user's events needs a read key or token with the 'users' scope." : "This credential may not read metrics.");
            }

            return _default.HandleAsync(next, context, policy, authorizeResult);
        }
    }
}
