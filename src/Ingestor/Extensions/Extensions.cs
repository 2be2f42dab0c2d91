using Ingestor;
using Ingestor.Consumption;
using Ingestor.Schema;

namespace Microsoft.Extensions.Hosting;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<IngestorOptions>()
            .BindConfiguration(IngestorOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.AddClickHouseClient("clickhouse");
        builder.AddKafkaProducer("kafka");

        builder.Services.AddSingleton<SchemaState>();
        builder.Services.AddHostedService<SchemaMigrationService>();
        builder.Services.AddHealthChecks().AddCheck<SchemaHealthCheck>("clickhouse-schema", tags: ["ready"]);

        builder.Services.AddSingleton<IngestorMetrics>();
        builder.Services.AddHostedService<EventConsumer>();
    }
}
