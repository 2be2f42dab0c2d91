using Api.Alerts;
using Microsoft.AspNetCore.Builder;
using Platform.Tenancy;

namespace Microsoft.Extensions.Hosting;

public static class AlertsRegistration
{
    public const string AdminTokenSetting = "Api:AdminToken";

    /// <summary>Rules in PostgreSQL, the evaluator and the webhook sender (one Api instance at a time, by lease), and the admin token.</summary>
    public static void AddAlerts(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AlertOptions>()
            .BindConfiguration(AlertOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.AddAdminTokenAuthentication(AdminTokenSetting);

        builder.Services.AddSingleton<ReceiverGuard>();
        builder.Services.AddHttpClient(WebhookSender.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
            {
                ConnectCallback = sp.GetRequiredService<ReceiverGuard>().ConnectAsync,
                // A redirect could lead anywhere, the platform's own services included: a receiver answers where it was asked.
                AllowAutoRedirect = false,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            })
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan); // each attempt has its own timeout
        builder.Services.AddSingleton<AlertStore>();
        builder.Services.AddSingleton<AlertLease>();
        builder.Services.AddSingleton<WebhookSignal>();
        builder.Services.AddSingleton<IngestLagReader>();
        builder.Services.AddSingleton<AlertMetricReader>();
        builder.Services.AddHostedService<AlertEvaluator>();
        builder.Services.AddHostedService<WebhookSender>();
    }

    public static void MapAlerts(this WebApplication app)
    {
        if (app.Configuration[AdminTokenSetting] is { Length: > 0 })
        {
            app.MapAlertsApi();
        }
    }
}
