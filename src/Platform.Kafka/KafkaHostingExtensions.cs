using Confluent.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Platform.Kafka;

namespace Microsoft.Extensions.Hosting;

public static class KafkaHostingExtensions
{
    /// <summary>
    /// Registers one shared producer (thread-safe, batching) for <c>ConnectionStrings:{connectionName}</c>
    /// and a readiness check that asks the cluster for its metadata.
    /// </summary>
    public static IHostApplicationBuilder AddKafkaProducer(this IHostApplicationBuilder builder, string connectionName)
    {
        var bootstrap = builder.GetKafkaBootstrap(connectionName);
        builder.Services.AddSingleton(sp =>
        {
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger("Platform.Kafka.Producer");
            return new ProducerBuilder<byte[], byte[]>(KafkaConfig.Producer(bootstrap, builder.Environment.ApplicationName))
                .SetLogHandler((_, m) => logger.Log(KafkaLog.Level(m.Level), "{Facility}: {Message}", m.Facility, m.Message))
                .SetErrorHandler((_, e) => logger.LogWarning("Kafka producer error {Code}: {Reason}", e.Code, e.Reason))
                .Build();
        });
        builder.AddKafkaHealthCheck(connectionName);
        return builder;
    }

    public static IHostApplicationBuilder AddKafkaHealthCheck(this IHostApplicationBuilder builder, string connectionName)
    {
        var bootstrap = builder.GetKafkaBootstrap(connectionName);
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            connectionName, _ => new KafkaHealthCheck(bootstrap), failureStatus: null, tags: ["ready"]));
        return builder;
    }

    public static string GetKafkaBootstrap(this IHostApplicationBuilder builder, string connectionName) =>
        KafkaConfig.Bootstrap(builder.Configuration.GetConnectionString(connectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{connectionName} is not configured."));
}

/// <summary>Healthy when a broker answers a metadata request within two seconds.</summary>
public sealed class KafkaHealthCheck(string bootstrap) : IHealthCheck, IDisposable
{
    private readonly Lazy<IAdminClient> _admin = new(() => new AdminClientBuilder(KafkaConfig.Admin(bootstrap)).SetLogHandler((_, _) => { }).Build());

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var metadata = _admin.Value.GetMetadata(TimeSpan.FromSeconds(2));
            return Task.FromResult(metadata.Brokers.Count > 0
                ? HealthCheckResult.Healthy($"{metadata.Brokers.Count} broker(s)")
                : HealthCheckResult.Unhealthy("The cluster reports no brokers."));
        }
        catch (KafkaException ex)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"Kafka at {bootstrap} does not answer: {ex.Error.Reason}"));
        }
    }

    public void Dispose()
    {
        if (_admin.IsValueCreated)
        {
            _admin.Value.Dispose();
        }
    }
}

public static class KafkaLog
{
    public static LogLevel Level(SyslogLevel level) => level switch
    {
        SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical => LogLevel.Critical,
        SyslogLevel.Error => LogLevel.Error,
        SyslogLevel.Warning => LogLevel.Warning,
        SyslogLevel.Notice or SyslogLevel.Info => LogLevel.Information,
        _ => LogLevel.Debug,
    };
}
