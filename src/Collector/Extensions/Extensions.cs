using Collector;
using Microsoft.AspNetCore.Builder;
using Collector.Intake;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Platform.Tenancy;

namespace Microsoft.Extensions.Hosting;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<CollectorOptions>()
            .BindConfiguration(CollectorOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, CollectorJsonContext.Default));
        builder.AddKafkaProducer("kafka");
        builder.AddTenantDirectory("platform");
        builder.AddApiKeyAuthentication(ApiKeyKind.Write);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<EventPublisher>();
        builder.Services.AddProblemFor<Npgsql.NpgsqlException>(StatusCodes.Status503ServiceUnavailable, "Key store unavailable");
    }
}
