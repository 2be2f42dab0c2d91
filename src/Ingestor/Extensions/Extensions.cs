using Ingestor;
using Ingestor.Apis;
using Ingestor.Cdc;
using Ingestor.Cdc.Apply;
using Ingestor.Consumption;
using Ingestor.Schema;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.Hosting;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<IngestorOptions>()
            .BindConfiguration(IngestorOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, IngestorStatusJsonContext.Default));
        builder.AddClickHouseClient("clickhouse");
        builder.AddKafkaProducer("kafka");

        builder.Services.AddSingleton<SchemaState>();
        builder.Services.AddHostedService<SchemaMigrationService>();
        builder.Services.AddHealthChecks().AddCheck<SchemaHealthCheck>("clickhouse-schema", tags: ["ready"]);

        builder.Services.AddOptions<CdcOptions>()
            .BindConfiguration(CdcOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<CdcState>();
        builder.AddCdcCapture();
        builder.Services.AddOptions<CdcApplyOptions>()
            .BindConfiguration(CdcApplyOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<CdcClickHouse>();
        builder.Services.AddSingleton<CdcApplyMetrics>();
        builder.Services.AddHostedService<CdcApplyService>();

        builder.Services.AddSingleton<IngestorMetrics>();
        builder.Services.AddHostedService<EventConsumer>();
    }
}
