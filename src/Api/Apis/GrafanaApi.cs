using System.Security.Claims;
using Api.Caching;
using Api.Grafana;

namespace Microsoft.AspNetCore.Builder;

/// <summary>
/// The Grafana JSON data source (simpod-json-datasource) under /grafana, for the caller's tenant only.
/// Grafana sends the read key or token as <c>Authorization: Bearer</c>; docs/grafana.md.
/// </summary>
public static class GrafanaApi
{
    public static IEndpointRouteBuilder MapGrafanaApi(this IEndpointRouteBuilder app)
    {
        var grafana = app.MapGroup("/grafana").RequireAuthorization(Microsoft.Extensions.Hosting.ApiAccess.MetricsPolicy).WithTags("Grafana");

        grafana.MapGet("/", (GrafanaDataSource source) => source.Status())
            .WithName("GrafanaTestConnection").WithSummary("The data source's \"Test connection\": 200 with the metrics it serves.");
        grafana.MapPost("/metrics", (GrafanaDataSource source) => source.Metrics())
            .WithName("GrafanaMetrics").WithSummary("The metric catalogue with each metric's payload fields.");
        grafana.MapPost("/metric-payload-options", async (ClaimsPrincipal user, HttpRequest request, GrafanaDataSource source, CancellationToken ct) =>
                await source.PayloadOptionsAsync(user, await GrafanaBody.ReadAsync(request, ct), ct))
            .WithName("GrafanaMetricPayloadOptions").WithSummary("The choices of a payload field: {metric, name, payload} -> [{label, value}].")
            .CacheOutput(TenantOutputCachePolicy.Name).ProducesProblem(StatusCodes.Status400BadRequest);
        grafana.MapPost("/query", async (ClaimsPrincipal user, HttpRequest request, GrafanaDataSource source, CancellationToken ct) =>
                await source.QueryAsync(user, await GrafanaBody.ReadAsync(request, ct), ct))
            .WithName("GrafanaQuery").WithSummary("Panel data: time series [{target, datapoints}] or tables [{type: table, columns, rows}] per visible target.")
            .CacheOutput(TenantOutputCachePolicy.Name).ProducesProblem(StatusCodes.Status400BadRequest);
        grafana.MapPost("/variable", async (ClaimsPrincipal user, HttpRequest request, GrafanaDataSource source, CancellationToken ct) =>
                await source.VariableAsync(user, await GrafanaBody.ReadAsync(request, ct), ct))
            .WithName("GrafanaVariable").WithSummary("Template variable values [{__text, __value}]; payload.target: events, countries, devices, os, app_versions.")
            .CacheOutput(TenantOutputCachePolicy.Name).ProducesProblem(StatusCodes.Status400BadRequest);
        grafana.MapPost("/tag-keys", (GrafanaDataSource source) => source.TagKeys())
            .WithName("GrafanaTagKeys").WithSummary("The dimensions ad-hoc filters may use.");
        grafana.MapPost("/tag-values", async (ClaimsPrincipal user, HttpRequest request, GrafanaDataSource source, CancellationToken ct) =>
                await source.TagValuesAsync(user, await GrafanaBody.ReadAsync(request, ct), ct))
            .WithName("GrafanaTagValues").WithSummary("The tenant's recent values of a dimension: {key} -> [{text}].")
            .CacheOutput(TenantOutputCachePolicy.Name).ProducesProblem(StatusCodes.Status400BadRequest);
        return app;
    }
}
