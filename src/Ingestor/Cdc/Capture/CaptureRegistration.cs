using Ingestor.Cdc.Capture;

namespace Microsoft.Extensions.Hosting;

internal static class CaptureRegistration
{
    /// <summary>The CDC bridge's capture side (PostgreSQL -> Kafka); idle unless Cdc is enabled with tables and ConnectionStrings:app.</summary>
    public static IHostApplicationBuilder AddCdcCapture(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<CaptureStatus>();
        builder.Services.AddSingleton<CaptureMetrics>();
        builder.Services.AddHostedService<CdcCaptureService>();
        builder.Services.AddHealthChecks().AddCheck<CaptureHealthCheck>("cdc-capture", tags: ["ready"]);
        return builder;
    }
}
