using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;
using Transformer;
using Transformer.Apis;
using Transformer.Models;
using Transformer.Retention;
using Transformer.Runs;
using Transformer.Scheduling;

namespace Microsoft.Extensions.Hosting;

internal static class Extensions
{
    /// <summary>The options and the loaded models: all that <c>list</c> needs, no ClickHouse.</summary>
    public static void AddTransformerModels(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<TransformerOptions>()
            .BindConfiguration(TransformerOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(sp => ModelProject.Load(ModelsPath(sp.GetRequiredService<IOptions<TransformerOptions>>().Value)));
    }

    /// <summary>What both the service and the command line need: options, ClickHouse, the models and the runner.</summary>
    public static void AddTransformerCore(this IHostApplicationBuilder builder)
    {
        builder.AddTransformerModels();
        builder.AddClickHouseClient("clickhouse");
        // A build statement may run up to BuildTimeout; the client's default 5 minutes would cut it short.
        builder.Services.AddHttpClient(nameof(ClickHouseClient)).ConfigureHttpClient((sp, http) =>
            http.Timeout = sp.GetRequiredService<IOptions<TransformerOptions>>().Value.BuildTimeout + TimeSpan.FromMinutes(1));
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => new ModelRunner(
            sp.GetRequiredService<ClickHouseClient>(), sp.GetRequiredService<ModelProject>(), sp.GetRequiredService<IOptions<TransformerOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ModelRunner>>(), sp.GetRequiredService<TransformerMetrics>()));
        builder.Services.AddSingleton<TransformerMetrics>();
        builder.Services.AddSingleton<IRetentionTables, ModelRetentionTables>();
        builder.Services.TryAddSingleton<RetentionPlanner>();
        builder.Services.TryAddSingleton<RetentionRunner>();
    }

    /// <summary>The service: the core, plus scheduled runs, retention, health and the status endpoint.</summary>
    public static void AddTransformerService(this IHostApplicationBuilder builder)
    {
        builder.AddTransformerCore();
        builder.Services.AddSingleton<ScheduleService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ScheduleService>());
        builder.Services.AddRetention();
        builder.Services.AddHealthChecks().AddCheck<ModelsHealthCheck>("models");
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, StatusJsonContext.Default));
    }

    public static string ModelsPath(TransformerOptions options) =>
        Path.IsPathRooted(options.ModelsPath) ? options.ModelsPath : Path.Combine(AppContext.BaseDirectory, options.ModelsPath);
}
