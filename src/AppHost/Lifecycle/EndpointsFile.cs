using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using AppHost.Demo;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AppHost.Lifecycle;

/// <summary>
/// Once every service is healthy (and the demo data is in), writes <c>STATE/endpoints.json</c>, which
/// scripts and the Transformer's and Api's command lines read to find the local platform: each
/// service's URL, each server's connection string, the generated admin token and signing key, and the
/// demo tenant's keys. Deleted when the AppHost stops, so nothing finds a platform that is gone.
/// </summary>
internal sealed class EndpointsFile(
    DistributedApplicationModel model,
    ResourceNotificationService notifications,
    PlatformOptions options,
    ILogger<EndpointsFile> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            foreach (var project in model.Resources.OfType<ProjectResource>())
            {
                await notifications.WaitForResourceHealthyAsync(project.Name, stoppingToken);
            }

            foreach (var task in model.Resources.OfType<DemoDataResource>())
            {
                await notifications.WaitForResourceAsync(task.Name, KnownResourceStates.TerminalStates, stoppingToken);
            }

            await WriteAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        File.Delete(options.EndpointsFile);
    }

    private async Task WriteAsync(CancellationToken cancellationToken)
    {
        var endpoints = new JsonObject();
        foreach (var resource in model.Resources)
        {
            switch (resource)
            {
                case ProjectResource project:
                    endpoints[project.Name] = project.GetEndpoint("http").Url;
                    break;
                case IResourceWithConnectionString server when await server.GetConnectionStringAsync(cancellationToken) is { } connectionString:
                    endpoints[server.Name] = connectionString;
                    break;
                case DemoDataResource { Credentials: { } credentials }:
                    endpoints["demo"] = new JsonObject
                    {
                        ["tenant_id"] = credentials.TenantId,
                        ["write_key"] = credentials.WriteKey,
                        ["read_key"] = credentials.ReadKey,
                    };
                    break;
            }
        }

        foreach (var parameter in model.Resources.OfType<ParameterResource>().Where(p => p.Secret))
        {
            endpoints[parameter.Name.Replace('-', '_')] = await parameter.GetValueAsync(cancellationToken);
        }

        var temporary = options.EndpointsFile + ".tmp";
        await File.WriteAllTextAsync(temporary, endpoints.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken);
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temporary, options.EndpointsFile, overwrite: true);
        logger.LogInformation("Platform ready after {Seconds:0.0} s. Collector {Collector}, Api {Api}; endpoints and demo keys: {File}",
            (DateTime.Now - Process.GetCurrentProcess().StartTime).TotalSeconds, endpoints["collector"], endpoints["api"], options.EndpointsFile);
    }
}
