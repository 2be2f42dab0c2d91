using System.Text.Json;
using System.Text.Json.Serialization;
using Collector;
using Collector.Intake;
using Microsoft.AspNetCore.Http.HttpResults;
using Platform.Tenancy;

namespace Microsoft.AspNetCore.Builder;

/// <summary>
/// The admin path: tenants, their intake settings, and their keys. Authenticated by the configured
/// admin token (<c>Collector:AdminToken</c>); not mapped at all while none is configured.
/// </summary>
public static class AdminApi
{
    public static RouteGroupBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin/v1/tenants").WithTags("Admin").RequireAuthorization(AdminTokenAuthenticationHandler.PolicyName);

        admin.MapPost("/", CreateTenantAsync).WithName("CreateTenant").WithSummary("Create a tenant, optionally with its intake settings.");
        admin.MapGet("/{tenantId}", GetTenantAsync).WithName("GetTenant").WithSummary("A tenant, its settings and its keys (ids and prefixes, never the keys).");
        admin.MapPut("/{tenantId}/settings", UpdateSettingsAsync).WithName("UpdateTenantSettings").WithSummary("Replace a tenant's intake settings (PII rules, rate limit).");
        admin.MapPost("/{tenantId}/keys", IssueKeyAsync).WithName("IssueKey").WithSummary("Issue a write or read key; the answer is the only time the key is shown.");
        admin.MapDelete("/{tenantId}/keys/{keyId}", RevokeKeyAsync).WithName("RevokeKey").WithSummary("Revoke a key by its id.");

        return admin;
    }

    public static async Task<Results<JsonHttpResult<TenantInfo>, ProblemHttpResult>> CreateTenantAsync(HttpRequest request, TenantDirectory tenants, CancellationToken cancellationToken)
    {
        var (body, problem) = await AdminRequests.ReadJsonAsync(request, AdminJsonContext.Default.CreateTenantRequest, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        if (!TenantDirectory.IsValidTenantId(body!.Id))
        {
            return BadRequest("Invalid tenant id", TenantDirectory.TenantIdRule);
        }

        if (string.IsNullOrWhiteSpace(body.Name) || body.Name.Length > 200)
        {
            return BadRequest("Invalid tenant name", "name is required, at most 200 characters.");
        }

        if (SettingsProblem(body.Settings) is { } settingsProblem)
        {
            return settingsProblem;
        }

        if (!await tenants.CreateTenantAsync(body.Id, body.Name, body.Settings, cancellationToken))
        {
            return IntakeProblems.Create(StatusCodes.Status409Conflict, "Tenant exists", $"A tenant with id '{body.Id}' already exists.");
        }

        request.HttpContext.Response.Headers.Location = $"/admin/v1/tenants/{body.Id}";
        return Json((await tenants.GetTenantAsync(body.Id, cancellationToken))!, StatusCodes.Status201Created);
    }

    public static async Task<Results<JsonHttpResult<TenantInfo>, ProblemHttpResult>> GetTenantAsync(string tenantId, TenantDirectory tenants, CancellationToken cancellationToken) =>
        await tenants.GetTenantAsync(tenantId, cancellationToken) is { } tenant ? Json(tenant) : NoSuchTenant(tenantId);

    public static async Task<Results<JsonHttpResult<TenantInfo>, ProblemHttpResult>> UpdateSettingsAsync(string tenantId, HttpRequest request, TenantDirectory tenants, CancellationToken cancellationToken)
    {
        var (settings, problem) = await AdminRequests.ReadJsonAsync(request, TenancyJsonContext.Default.TenantSettings, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        if (SettingsProblem(settings) is { } settingsProblem)
        {
            return settingsProblem;
        }

        return await tenants.UpdateSettingsAsync(tenantId, settings!, cancellationToken)
            ? Json((await tenants.GetTenantAsync(tenantId, cancellationToken))!)
            : NoSuchTenant(tenantId);
    }

    public static async Task<Results<JsonHttpResult<IssuedKey>, ProblemHttpResult>> IssueKeyAsync(string tenantId, HttpRequest request, TenantDirectory tenants, CancellationToken cancellationToken)
    {
        var (body, problem) = await AdminRequests.ReadJsonAsync(request, AdminJsonContext.Default.IssueKeyRequest, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        ApiKeyKind? kind = body!.Kind switch { "write" => ApiKeyKind.Write, "read" => ApiKeyKind.Read, _ => null };
        if (kind is null)
        {
            return BadRequest("Invalid key kind", "kind must be \"write\" or \"read\".");
        }

        var scopes = body.Scopes ?? [];
        if (scopes.Any(s => !ApiScopes.Grantable.Contains(s)) || (kind == ApiKeyKind.Write && scopes.Count > 0))
        {
            return BadRequest("Invalid scopes", ApiScopes.Rule);
        }

        if (!await tenants.TenantExistsAsync(tenantId, cancellationToken))
        {
            return NoSuchTenant(tenantId);
        }

        var key = await tenants.IssueKeyAsync(tenantId, kind.Value, scopes, cancellationToken);
        var id = TenantDirectory.KeyIdOf(key);
        request.HttpContext.Response.Headers.Location = $"/admin/v1/tenants/{tenantId}/keys/{id}";
        return TypedResults.Json(new IssuedKey(id, body.Kind, key), AdminJsonContext.Default.IssuedKey, statusCode: StatusCodes.Status201Created);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> RevokeKeyAsync(string tenantId, string keyId, TenantDirectory tenants, CancellationToken cancellationToken) =>
        await tenants.RevokeKeyByIdAsync(tenantId, keyId, cancellationToken)
            ? TypedResults.NoContent()
            : IntakeProblems.Create(StatusCodes.Status404NotFound, "No such key", $"Tenant '{tenantId}' has no live key with id '{keyId}'.");

    private static ProblemHttpResult? SettingsProblem(TenantSettings? settings)
    {
        if (settings is null)
        {
            return null;
        }

        if (settings.EventsPerSecond is < 1)
        {
            return BadRequest("Invalid settings", "events_per_second must be at least 1.");
        }

        if (settings.PiiProperties.Keys.Any(k => string.IsNullOrWhiteSpace(k) || k.Length > 128))
        {
            return BadRequest("Invalid settings", "pii_properties names must be 1-128 characters.");
        }

        if (settings.TimeZone is not null && !TenantSettings.IsKnownTimeZone(settings.TimeZone))
        {
            return BadRequest("Invalid settings", $"time_zone must be an IANA time zone such as 'Europe/Berlin'; '{settings.TimeZone}' is not one.");
        }

        return null;
    }

    /// <summary>The admin path speaks snake_case, like the event contract, whatever the service's default JSON options say.</summary>
    private static JsonHttpResult<TenantInfo> Json(TenantInfo tenant, int status = StatusCodes.Status200OK) =>
        TypedResults.Json(tenant, TenancyJsonContext.Default.TenantInfo, statusCode: status);

    private static ProblemHttpResult BadRequest(string title, string detail) => IntakeProblems.Create(StatusCodes.Status400BadRequest, title, detail);

    private static ProblemHttpResult NoSuchTenant(string tenantId) =>
        IntakeProblems.Create(StatusCodes.Status404NotFound, "No such tenant", $"There is no tenant '{tenantId}'.");
}

public sealed record CreateTenantRequest(string Id, string Name, TenantSettings? Settings = null);

public sealed record IssueKeyRequest(string Kind, IReadOnlyList<string>? Scopes = null);

public sealed record IssuedKey(string Id, string Kind, string Key);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, RespectRequiredConstructorParameters = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(CreateTenantRequest))]
[JsonSerializable(typeof(IssueKeyRequest))]
[JsonSerializable(typeof(IssuedKey))]
internal sealed partial class AdminJsonContext : JsonSerializerContext;
