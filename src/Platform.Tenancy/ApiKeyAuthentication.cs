using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Platform.Tenancy;

public sealed class ApiKeyAuthenticationOptions : AuthenticationSchemeOptions
{
    /// <summary>Which kind of key this scheme accepts: the Collector takes write keys, the Api read keys.</summary>
    public ApiKeyKind Kind { get; set; }
}

/// <summary>
/// Authenticates a request by its API key (<c>Authorization: Bearer KEY</c>, or Basic with the key as
/// user name, Segment's way) and names the caller's tenant in a claim. The tenant comes from the
/// key only, never from the request's payload or query string.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<ApiKeyAuthenticationOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TenantDirectory tenants,
    IProblemDetailsService problems) : AuthenticationHandler<ApiKeyAuthenticationOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var key = ReadKey(Request);
        if (key is null)
        {
            return AuthenticateResult.NoResult();
        }

        var resolved = await tenants.ResolveKeyAsync(key, Options.Kind, Context.RequestAborted);
        if (resolved is null)
        {
            return AuthenticateResult.Fail("The key is unknown, revoked, or of the wrong kind.");
        }

        var claims = new List<Claim> { new(TenantClaims.TenantId, resolved.TenantId), new(TenantClaims.KeyKind, Options.Kind.ToString()) };
        if (Options.Kind == ApiKeyKind.Read)
        {
            // One space-separated scope claim, as OAuth access tokens carry it, so keys and tokens read alike.
            claims.Add(new Claim(TenantClaims.Scope, string.Join(' ', resolved.Scopes.Prepend(ApiScopes.Metrics))));
        }

        var identity = new ClaimsIdentity(claims, Scheme.Name);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var kind = Options.Kind == ApiKeyKind.Write ? "write" : "read";
        var sentAKey = ReadKey(Request) is not null;
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = Options.Kind == ApiKeyKind.Write ? "Basic realm=\"events\", Bearer" : "Bearer";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = $"Unknown {kind} key",
                Detail = sentAKey
                    ? $"The {kind} key is unknown or revoked."
                    : Options.Kind == ApiKeyKind.Write
                        ? "Send the write key as 'Authorization: Basic base64(KEY:)' or 'Authorization: Bearer KEY'."
                        : "Send a read key as 'Authorization: Bearer KEY'.",
            },
        });
    }

    public static string? ReadKey(HttpRequest request)
    {
        var header = request.Headers[HeaderNames.Authorization].ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim() is { Length: > 0 } bearer ? bearer : null;
        }

        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
            var user = decoded.Split(':', 2)[0];
            return user.Length > 0 ? user : null;
        }
        catch (FormatException)
        {
            // Not base64: treated as a key that matches nothing, so the caller hears "unknown key".
            return header;
        }
    }
}

public static class TenantClaims
{
    public const string TenantId = "tenant_id";
    public const string KeyKind = "key_kind";
    public const string Scope = "scope";

    /// <summary>The authenticated caller's tenant; every query and every write is scoped to it.</summary>
    public static string GetTenantId(this ClaimsPrincipal user) =>
        user.FindFirst(TenantId)?.Value ?? throw new InvalidOperationException("The request is not authenticated with a tenant.");

    /// <summary>Whether the caller's space-separated <c>scope</c> claims include <paramref name="scope"/>.</summary>
    public static bool HasScope(this ClaimsPrincipal user, string scope) =>
        user.FindAll(Scope).Any(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Contains(scope, StringComparer.Ordinal));
}
