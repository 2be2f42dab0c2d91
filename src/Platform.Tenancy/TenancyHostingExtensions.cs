using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Platform.Tenancy;

namespace Microsoft.Extensions.Hosting;

public static class TenancyHostingExtensions
{
    /// <summary>
    /// Authenticates requests by API key of one kind and makes a tenant claim the default policy,
    /// so endpoints that call <c>RequireAuthorization()</c> always know their caller's tenant.
    /// </summary>
    public static IHostApplicationBuilder AddApiKeyAuthentication(this IHostApplicationBuilder builder, ApiKeyKind kind)
    {
        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<ApiKeyAuthenticationOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, o => o.Kind = kind);
        builder.Services.AddAuthorizationBuilder()
            .SetDefaultPolicy(new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder(ApiKeyAuthenticationHandler.SchemeName)
                .RequireClaim(TenantClaims.TenantId)
                .Build());
        return builder;
    }

    /// <summary>
    /// The admin path's authentication: a bearer token equal to the setting <paramref name="setting"/> (e.g.
    /// <c>Collector:AdminToken</c>), required by the <see cref="AdminTokenAuthenticationHandler.PolicyName"/> policy.
    /// </summary>
    public static IHostApplicationBuilder AddAdminTokenAuthentication(this IHostApplicationBuilder builder, string setting)
    {
        var token = builder.Configuration[setting];
        builder.Services.AddAuthentication()
            .AddScheme<AdminTokenAuthenticationOptions, AdminTokenAuthenticationHandler>(AdminTokenAuthenticationHandler.SchemeName, o =>
            {
                o.Token = token;
                o.Setting = setting;
            });
        builder.Services.AddAuthorizationBuilder().AddPolicy(AdminTokenAuthenticationHandler.PolicyName, policy => policy
            .AddAuthenticationSchemes(AdminTokenAuthenticationHandler.SchemeName)
            .RequireRole(AdminTokenAuthenticationHandler.PolicyName));
        return builder;
    }

    /// <summary>Registers the tenant directory on <c>ConnectionStrings:{connectionName}</c> and a readiness check for that database.</summary>
    public static IHostApplicationBuilder AddTenantDirectory(this IHostApplicationBuilder builder, string connectionName)
    {
        var connectionString = builder.Configuration.GetConnectionString(connectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{connectionName} is not configured.");
        builder.Services.AddNpgsqlDataSource(connectionString);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<TenantDirectory>();
        builder.Services.AddHealthChecks().AddNpgSql(name: connectionName, tags: ["ready"]);
        return builder;
    }
}
