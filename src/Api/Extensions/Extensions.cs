using Api;
using Api.Querying;

namespace Microsoft.Extensions.Hosting;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ApiOptions>()
            .BindConfiguration(ApiOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.AddClickHouseClient("clickhouse");
        builder.AddTenantDirectory("platform");
        builder.Services.AddSingleton<TenantQueries>();
    }
}
