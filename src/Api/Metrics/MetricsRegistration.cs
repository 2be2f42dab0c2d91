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
        builder.Services.AddSingleton<ActiveUsersQuery>();
        builder.Services.AddSingleton<SessionsQuery>();
        builder.Services.AddSingleton<FeatureAdoptionQuery>();
        builder.Services.AddSingleton<TimelineQuery>();
        builder.Services.AddGrafanaDataSource();
        builder.Services.AddSingleton<FunnelQuery>();
        builder.Services.AddSingleton<RetentionQuery>();
        builder.AddPipelineHealth();
    }
}
