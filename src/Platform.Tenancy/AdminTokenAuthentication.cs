using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Platform.Tenancy;

/// <summary>The admin token a service accepts, and the setting it comes from (named in the 401 answer).</summary>
public sealed class AdminTokenAuthenticationOptions : AuthenticationSchemeOptions
{
    public string? Token { get; set; }

    public string Setting { get; set; } = "";
}

/// <summary>Authenticates the admin path by the configured bearer token, compared in constant time.</summary>
public sealed class AdminTokenAuthenticationHandler(
    IOptionsMonitor<AdminTokenAuthenticationOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IProblemDetailsService problems) : AuthenticationHandler<AdminTokenAuthenticationOptions>(options, logger, encoder)
{
    public const string SchemeName = "AdminToken";
    public const string PolicyName = "admin";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || Options.Token is not { Length: > 0 } expected)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var sent = Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim());
        if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(sent), SHA256.HashData(Encoding.UTF8.GetBytes(expected))))
        {
            return Task.FromResult(AuthenticateResult.Fail("Wrong admin token."));
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Role, PolicyName)], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "Admin token required",
                Detail = $"Send the admin token ({Options.Setting}) as 'Authorization: Bearer TOKEN'.",
            },
        });
    }
}
