using Microsoft.Extensions.Configuration;
using AppHost.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AppHost;

/// <summary>How every part of the platform is declared: services, their secrets and settings, and the AppHost's own duties.</summary>
public static class PlatformConventions
{
    /// <summary>Reads <see cref="PlatformOptions"/> and, when running, adds supervision, the orderly stop, log files and endpoints.json.</summary>
    public static PlatformOptions AddPlatformConventions(this IDistributedApplicationBuilder builder)
    {
        var options = PlatformOptions.From(builder);
        builder.Services.AddSingleton(options);
        if (builder.ExecutionContext.IsPublishMode)
        {
            return options;
        }

        options.PrepareStateDirectory();
        // Registered after Aspire's orchestrator, so they stop before it stops the resources.
        builder.Services.AddHostedService<ResourceLogFiles>();
        builder.Services.AddHostedService<ProcessRecords>();
        builder.Services.AddHostedService<Supervisor>();
        builder.Services.AddHostedService<EndpointsFile>();
        builder.Services.AddHostedService<OrderlyStop>();
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = options.DrainTimeout + 2 * ResourceProcess.GracePeriod + TimeSpan.FromSeconds(15));
        return options;
    }

    /// <summary>
    /// A service project: one HTTP endpoint (the well-known port when free, no proxy in between),
    /// ready when <c>/health</c> answers, with extra settings from <c>Resources:NAME:Environment:*</c>.
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddService<TProject>(this IDistributedApplicationBuilder builder, string name, int port, PlatformOptions options)
        where TProject : IProjectMetadata, new()
    {
        var service = builder.AddProject<TProject>(name);
        if (builder.ExecutionContext.IsPublishMode)
        {
            return service.WithHttpEndpoint(name: "http").WithHttpHealthCheck("/health");
        }

        var allocated = options.Port(port);
        var overrides = builder.Configuration.GetSection($"Resources:{name}:Environment");
        service
            .WithHttpEndpoint(port: allocated, targetPort: allocated, name: "http", isProxied: false)
            .WithHttpHealthCheck("/health")
            .WithEnvironment(context =>
            {
                context.EnvironmentVariables["Logging__Console__FormatterName"] = "simple";
                context.EnvironmentVariables["Logging__Console__FormatterOptions__SingleLine"] = "true";
                context.EnvironmentVariables["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled";
                context.EnvironmentVariables["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning";
                context.EnvironmentVariables["Logging__LogLevel__System.Net.Http.HttpClient"] = "Warning";
            });
        // e.g. Resources:collector:Environment:Collector__RateLimits__RequestsPerSecondPerClient=50; added once the
        // model is complete, so they win over what Program.cs sets.
        builder.Eventing.Subscribe<BeforeStartEvent>((_, _) =>
        {
            service.WithEnvironment(context =>
            {
                // Given as an environment variable (Resources__ingestor__Environment__Ingestor__BatchMaxRows) the
                // setting arrives split into sections; flattened back, both spellings name the same variable.
                foreach (var (key, value) in overrides.AsEnumerable(makePathsRelative: true))
                {
                    if (value is not null)
                    {
                        context.EnvironmentVariables[key.Replace(":", "__", StringComparison.Ordinal)] = value;
                    }
                }
            });
            return Task.CompletedTask;
        });
        return service;
    }

    /// <summary>
    /// A secret a service needs: generated once into the state folder when running, a deployment
    /// parameter (azd asks for it) when publishing.
    /// </summary>
    public static IResourceBuilder<ParameterResource> AddSecret(this IDistributedApplicationBuilder builder, string name, PlatformOptions options) =>
        builder.ExecutionContext.IsPublishMode
            ? builder.AddParameter(name, secret: true)
            : builder.AddParameter(name, options.Secret(name), secret: true);

    /// <summary>The CDC bridge replicates these tables of the app database (<c>Cdc:Tables</c>, comma-separated) for one tenant.</summary>
    public static IResourceBuilder<ProjectResource> WithCdcTables(this IResourceBuilder<ProjectResource> ingestor, IConfiguration configuration, string defaultTenant, string defaultTables)
    {
        var tables = (configuration["Cdc:Tables"] ?? defaultTables).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        ingestor.WithEnvironment("Cdc__TenantId", configuration["Cdc:TenantId"] ?? defaultTenant);
        for (var i = 0; i < tables.Length; i++)
        {
            ingestor.WithEnvironment($"Cdc__Tables__{i}", tables[i]);
        }

        return ingestor;
    }

    /// <summary>
    /// Grafana with the provisioned dashboards (deploy/grafana), in deployments only: no Grafana runs
    /// here. Its data source needs the Api's URL and a token (PLATFORM_API_TOKEN, minted with the Api's CLI).
    /// </summary>
    public static void AddGrafana(this IDistributedApplicationBuilder builder, string name, IResourceBuilder<ProjectResource> api)
    {
        if (!builder.ExecutionContext.IsPublishMode)
        {
            return;
        }

        builder.AddDockerfile(name, Path.Combine(builder.AppHostDirectory, "..", "..", "deploy", "grafana"))
            .WithHttpEndpoint(targetPort: 3000, name: "http")
            .WithExternalHttpEndpoints()
            .WithEnvironment("GF_INSTALL_PLUGINS", "simpod-json-datasource")
            .WithEnvironment("GF_SECURITY_ADMIN_PASSWORD", builder.AddParameter("grafana-admin-password", secret: true))
            .WithEnvironment("PLATFORM_API_URL", api.GetEndpoint("http"))
            .WithEnvironment("PLATFORM_API_TOKEN", builder.AddParameter("grafana-api-token", secret: true))
            .WaitFor(api);
    }
}
