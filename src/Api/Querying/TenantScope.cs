using System.Security.Claims;
using Platform.Tenancy;

namespace Api.Querying;

/// <summary>
/// The caller as every query sees it: the tenant its credential names and that tenant's default time
/// zone. Built from the authenticated principal only; no endpoint takes a tenant from its input.
/// </summary>
public sealed record TenantScope(string TenantId, string DefaultTimeZone);

/// <summary>Resolves the caller's <see cref="TenantScope"/> (the time zone from the tenant's settings, cached by the directory).</summary>
public sealed class TenantScopes(TenantDirectory tenants)
{
    public async Task<TenantScope> ResolveAsync(ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var tenantId = user.GetTenantId();
        var profile = await tenants.GetIntakeProfileAsync(tenantId, cancellationToken);
        var zone = profile?.Settings.TimeZone is { } configured && TenantSettings.IsKnownTimeZone(configured) ? configured : "UTC";
        return new TenantScope(tenantId, zone);
    }
}
