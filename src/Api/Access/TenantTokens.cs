using System.Security.Claims;
using System.Text;
using Api;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Platform.Tenancy;

namespace Microsoft.Extensions.Hosting;

/// <summary>Read tokens: HS256 JWTs with <c>tenant_id</c> and a space-separated <c>scope</c>, signed with <see cref="JwtOptions.SigningKey"/>.</summary>
public static class TenantTokens
{
    public const int MinimumKeyLength = 32;

    /// <summary>A compact JWT has three base64url parts; a read key (<c>rk_...</c>) never has a dot.</summary>
    public static bool LooksLikeToken(string? credential) => credential is not null && credential.Count(c => c == '.') == 2;

    public static string Create(JwtOptions options, string tenantId, IEnumerable<string> scopes, TimeSpan lifetime, TimeProvider? time = null)
    {
        if (options.SigningKey.Length < MinimumKeyLength)
        {
            throw new InvalidOperationException($"Api:Jwt:SigningKey must be at least {MinimumKeyLength} characters to issue tokens.");
        }

        if (!TenantDirectory.IsValidTenantId(tenantId))
        {
            throw new ArgumentException(TenantDirectory.TenantIdRule, nameof(tenantId));
        }

        var now = (time ?? TimeProvider.System).GetUtcNow().UtcDateTime;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = options.Issuer,
            Audience = options.Audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + lifetime,
            Subject = new ClaimsIdentity([
                new Claim(TenantClaims.TenantId, tenantId),
                new Claim(TenantClaims.Scope, string.Join(' ', scopes.Prepend(ApiScopes.Metrics).Distinct())),
            ]),
            SigningCredentials = new SigningCredentials(Key(options), SecurityAlgorithms.HmacSha256),
        });
    }

    public static TokenValidationParameters ValidationParameters(JwtOptions options) => new()
    {
        ValidIssuer = options.Issuer,
        ValidAudience = options.Audience,
        // Without a key of the minimum length nothing validates: tokens are off, read keys still work.
        IssuerSigningKey = options.SigningKey.Length >= MinimumKeyLength ? Key(options) : new SymmetricSecurityKey(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
        ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
        RequireExpirationTime = true,
        RequireSignedTokens = true,
        ClockSkew = TimeSpan.FromSeconds(30),
        NameClaimType = TenantClaims.TenantId,
    };

    private static SymmetricSecurityKey Key(JwtOptions options) => new(Encoding.UTF8.GetBytes(options.SigningKey));
}
