using Api;
using Microsoft.AspNetCore.Builder;
using Api.Querying;
using Platform.ClickHouse;
using Platform.Tenancy;

namespace Microsoft.Extensions.Hosting;

internal static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ApiOptions>()
            .BindConfiguration(ApiOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
        builder.AddClickHouseClient("clickhouse");
        builder.AddTenantDirectory("platform");
        builder.AddApiKeyAuthentication(ApiKeyKind.Read);
        builder.Services.AddSingleton<TenantQueries>();

        // A dependency's state is a 503 or 504 with a problem body, never a 500.
        builder.Services.AddProblemFor<Npgsql.NpgsqlException>(StatusCodes.Status503ServiceUnavailable, "Key store unavailable");
        builder.Services.AddProblemFor<ClickHouseUnavailableException>(StatusCodes.Status503ServiceUnavailable, "Event store unavailable");
        builder.Services.AddProblemFor<ClickHouseServerException>(StatusCodes.Status504GatewayTimeout, "Query took too long",
            when: ex => ex.Code is ClickHouseErrorCodes.TimeoutExceeded or ClickHouseErrorCodes.TooSlow);
        builder.Services.AddProblemFor<ClickHouseServerException>(StatusCodes.Status503ServiceUnavailable, "Event store not ready",
            when: ex => ex.Code is ClickHouseErrorCodes.UnknownTable or ClickHouseErrorCodes.UnknownDatabase or ClickHouseErrorCodes.TooManySimultaneousQueries);
    }
}
