using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Platform.ClickHouse;

namespace Microsoft.Extensions.Hosting;

public static class ClickHouseHostingExtensions
{
    /// <summary>
    /// Registers a <see cref="ClickHouseClient"/> for <c>ConnectionStrings:{connectionName}</c> and a
    /// readiness check that pings the server.
    /// </summary>
    public static IHostApplicationBuilder AddClickHouseClient(this IHostApplicationBuilder builder, string connectionName)
    {
        var connectionString = builder.Configuration.GetConnectionString(connectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{connectionName} is not configured.");
        var settings = ClickHouseConnectionSettings.Parse(connectionString);

        builder.Services.AddHttpClient(nameof(ClickHouseClient), http => http.Timeout = TimeSpan.FromMinutes(5));
        builder.Services.AddSingleton(sp => new ClickHouseClient(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(ClickHouseClient)), settings));
        builder.Services.AddSingleton<ClickHouseMigrator>();
        builder.Services.AddHealthChecks().AddCheck<ClickHouseHealthCheck>(connectionName, tags: ["ready"]);
        return builder;
    }
}

internal sealed class ClickHouseHealthCheck(ClickHouseClient client) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        await client.PingAsync(cancellationToken)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy($"ClickHouse at {client.Settings.Endpoint} does not answer /ping.");
}
