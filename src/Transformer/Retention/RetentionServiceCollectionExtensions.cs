using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Transformer.Retention;

public static class RetentionServiceCollectionExtensions
{
    /// <summary>
    /// Registers the retention planner, runner, the configured tables (unless another
    /// <see cref="IRetentionTables"/> is registered first) and the scheduled <see cref="RetentionService"/>.
    /// Needs a <c>ClickHouseClient</c> and bound <see cref="TransformerOptions"/>.
    /// </summary>
    public static IServiceCollection AddRetention(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RetentionPlanner>();
        services.TryAddSingleton<RetentionRunner>();
        services.TryAddSingleton<IRetentionTables, ConfiguredRetentionTables>();
        services.AddHostedService<RetentionService>();
        return services;
    }
}
