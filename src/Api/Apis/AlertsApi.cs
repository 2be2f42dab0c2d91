using System.Text.Json.Serialization;
using Api.Alerts;
using Microsoft.AspNetCore.Http.HttpResults;
using Platform.Tenancy;

namespace Microsoft.AspNetCore.Builder;

/// <summary>
/// The admin path's alert rules: tenants' product rules and the operator's platform rules, their state and their
/// delivery history. Authenticated by the admin token (<c>Api:AdminToken</c>, the same secret as the Collector's);
/// not mapped while none is configured.
/// </summary>
public static class AlertsApi
{
    public const int MaxHistory = 200;

    public static RouteGroupBuilder MapAlertsApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/admin/v1/alerts").WithTags("Alerts").RequireAuthorization(AdminTokenAuthenticationHandler.PolicyName);

        admin.MapPost("/", CreateRuleAsync).WithName("CreateAlertRule").WithSummary("Create a product rule (with tenant) or a platform rule (without); the answer is the only time the webhook secret is shown.");
        admin.MapGet("/", ListRulesAsync).WithName("ListAlertRules").WithSummary("Rules with their state; tenant=ID for one tenant's, scope=platform for the platform's.");
        admin.MapGet("/metrics", ListMetrics).WithName("ListAlertMetrics").WithSummary("The metrics rules can watch, their windows and threshold ranges.");
        admin.MapGet("/{id:long}", GetRuleAsync).WithName("GetAlertRule").WithSummary("A rule, its state and its latest delivery.");
        admin.MapGet("/{id:long}/deliveries", ListDeliveriesAsync).WithName("ListAlertDeliveries").WithSummary("A rule's webhooks, newest first: event, status, attempts, the receiver's last answer.");
        admin.MapDelete("/{id:long}", DeleteRuleAsync).WithName("DeleteAlertRule").WithSummary("Delete a rule and its history; a notification not sent yet is dropped.");
        return admin;
    }

    public static async Task<Results<JsonHttpResult<AlertRuleView>, ProblemHttpResult>> CreateRuleAsync(
        HttpRequest request, AlertStore store, TenantDirectory tenants, ReceiverGuard receivers, TimeProvider time, CancellationToken cancellationToken)
    {
        var (body, problem) = await AdminRequests.ReadJsonAsync(request, AlertsJsonContext.Default.AlertRuleRequest, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var (rule, refused) = AlertRuleValidation.Validate(body!, receivers, time.GetUtcNow());
        if (refused is not null)
        {
            return AdminRequests.Problem(StatusCodes.Status400BadRequest, refused.Title, refused.Detail);
        }

        if (rule!.TenantId is { } tenant && !await tenants.TenantExistsAsync(tenant, cancellationToken))
        {
            return NoSuchTenant(tenant);
        }

        var created = await store.CreateAsync(rule, cancellationToken);
        request.HttpContext.Response.Headers.Location = $"/admin/v1/alerts/{created.Id}";
        return TypedResults.Json(AlertRuleView.Of(created, null) with { Webhook = WebhookView.Of(created, showSecret: true) },
            AlertsJsonContext.Default.AlertRuleView, statusCode: StatusCodes.Status201Created);
    }

    public static async Task<Results<JsonHttpResult<List<AlertRuleView>>, ProblemHttpResult>> ListRulesAsync(
        string? tenant, string? scope, AlertStore store, CancellationToken cancellationToken)
    {
        if (tenant is not null && !TenantDirectory.IsValidTenantId(tenant))
        {
            return AdminRequests.Problem(StatusCodes.Status400BadRequest, "Invalid tenant id", TenantDirectory.TenantIdRule);
        }

        if (scope is not (null or "platform" or "all"))
        {
            return AdminRequests.Problem(StatusCodes.Status400BadRequest, "Invalid scope", "scope is platform (the platform's rules only) or all.");
        }

        var rules = await store.ListAsync(tenant, scope == "platform", cancellationToken);
        var latest = await store.LatestDeliveriesAsync(rules.Select(r => r.Id).ToList(), cancellationToken);
        return TypedResults.Json(rules.Select(r => AlertRuleView.Of(r, latest.GetValueOrDefault(r.Id))).ToList(), AlertsJsonContext.Default.ListAlertRuleView);
    }

    public static JsonHttpResult<List<AlertMetricView>> ListMetrics() =>
        TypedResults.Json(AlertMetrics.All.Select(AlertMetricView.Of).ToList(), AlertsJsonContext.Default.ListAlertMetricView);

    public static async Task<Results<JsonHttpResult<AlertRuleView>, ProblemHttpResult>> GetRuleAsync(long id, AlertStore store, CancellationToken cancellationToken)
    {
        if (await store.GetAsync(id, cancellationToken) is not { } rule)
        {
            return NoSuchRule(id);
        }

        var latest = await store.LatestDeliveriesAsync([rule.Id], cancellationToken);
        return TypedResults.Json(AlertRuleView.Of(rule, latest.GetValueOrDefault(rule.Id)), AlertsJsonContext.Default.AlertRuleView);
    }

    public static async Task<Results<JsonHttpResult<List<AlertDelivery>>, ProblemHttpResult>> ListDeliveriesAsync(
        long id, int? limit, AlertStore store, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxHistory)
        {
            return AdminRequests.Problem(StatusCodes.Status400BadRequest, "Invalid limit", $"limit is 1-{MaxHistory} deliveries.");
        }

        return await store.GetAsync(id, cancellationToken) is null
            ? NoSuchRule(id)
            : TypedResults.Json(await store.DeliveriesAsync(id, limit ?? 50, cancellationToken), AlertsJsonContext.Default.ListAlertDelivery);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteRuleAsync(long id, AlertStore store, CancellationToken cancellationToken) =>
        await store.DeleteAsync(id, cancellationToken) ? TypedResults.NoContent() : NoSuchRule(id);

    private static ProblemHttpResult NoSuchRule(long id) => AdminRequests.Problem(StatusCodes.Status404NotFound, "No such rule", $"There is no alert rule {id}.");

    private static ProblemHttpResult NoSuchTenant(string tenant) => AdminRequests.Problem(StatusCodes.Status404NotFound, "No such tenant", $"There is no tenant '{tenant}'.");
}

/// <param name="Secret">Only in the answer that creates the rule.</param>
public sealed record WebhookView(string Url, string Format, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Secret)
{
    public static WebhookView Of(AlertRule rule, bool showSecret) => new(rule.WebhookUrl, rule.WebhookFormat, showSecret ? rule.Secret : null);
}

public sealed record AlertRuleView(
    long Id, string Name, string? Tenant, string Metric, string? Window, string? Event, string Condition, string? CompareTo, double Threshold,
    string Every, string For, WebhookView Webhook, AlertState State, AlertDelivery? LastDelivery, DateTimeOffset CreatedAt)
{
    public static AlertRuleView Of(AlertRule rule, AlertDelivery? lastDelivery) => new(
        rule.Id, rule.Name, rule.TenantId, rule.Metric, rule.Window, rule.EventName, rule.Condition, rule.CompareTo, rule.Threshold,
        AlertDurations.Format(rule.Every), AlertDurations.Format(rule.For), WebhookView.Of(rule, showSecret: false), rule.State, lastDelivery, rule.CreatedAt);
}

public sealed record AlertMetricView(string Name, string Scope, string Unit, string Description, IReadOnlyList<string> Windows, string? WindowRange, bool Comparable, bool TakesEvent,
    double MaxThreshold)
{
    public static AlertMetricView Of(AlertMetric m) => new(m.Name, m.Scope == AlertScope.Tenant ? "tenant" : "platform", m.Unit, m.Description, m.Windows,
        m.TakesDuration ? $"{AlertDurations.Format(m.MinWindow!.Value)}-{AlertDurations.Format(m.MaxWindow!.Value)}" : null, m.Comparable, m.TakesEventName, m.MaxThreshold);
}

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    RespectRequiredConstructorParameters = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(AlertRuleRequest))]
[JsonSerializable(typeof(AlertRuleView))]
[JsonSerializable(typeof(List<AlertRuleView>))]
[JsonSerializable(typeof(List<AlertMetricView>))]
[JsonSerializable(typeof(List<AlertDelivery>))]
internal sealed partial class AlertsJsonContext : JsonSerializerContext;
