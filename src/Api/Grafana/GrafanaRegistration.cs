using Api.Grafana;

namespace Microsoft.Extensions.Hosting;

internal static class GrafanaRegistration
{
    /// <summary>The Grafana JSON data source: the protocol over the metric catalogue and the tenant's vocabulary.</summary>
    public static void AddGrafanaDataSource(this IServiceCollection services)
    {
        services.AddSingleton<GrafanaVocabulary>();
        services.AddSingleton<GrafanaPipelineSeries>();
        services.AddSingleton<GrafanaDataSource>();
    }
}
