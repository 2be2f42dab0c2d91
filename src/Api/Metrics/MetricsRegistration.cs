using Api.Metrics;
using Api.Querying;

namespace Microsoft.Extensions.Hosting;

internal static class MetricsRegistration
{
    /// <summary>The metric queries, one class each; endpoints and the Grafana data source share them.</summary>
    public static void AddMetricQueries(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<MetricsContext>();
        builder.Services.AddSingleton<TrendsQuery>();
        builder.AddPipelineHealth();
    }
}
