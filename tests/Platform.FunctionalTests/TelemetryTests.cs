using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>
/// ServiceDefaults' telemetry leaves every service over OTLP: in a developer's run it goes to Aspire's
/// dashboard (which the AppHost names in OTEL_EXPORTER_OTLP_ENDPOINT); here to a receiver of the test's own.
/// </summary>
public sealed class TelemetryTests(TelemetryTests.ExportingPlatform platform) : IClassFixture<TelemetryTests.ExportingPlatform>
{
    private static readonly string[] Services = ["collector", "ingestor", "transformer", "api"];

    [Fact]
    public async Task EveryServiceExportsTracesMetricsAndLogs()
    {
        using var api = platform.CreateHttpClient("api");
        using var _ = await api.GetAsync("/health"); // a request to trace

        string[] signals = ["traces", "metrics", "logs"];
        var missing = await Eventually.MatchesAsync(
            () => Task.FromResult(Services.SelectMany(s => signals.Select(signal => (s, signal))).Where(x => !platform.Otlp.Received(x.signal, x.s)).ToList()),
            m => m.Count == 0, TimeSpan.FromSeconds(60));

        Assert.True(missing.Count == 0, "no OTLP export of " + string.Join(", ", missing));
    }

    public sealed class ExportingPlatform : PlatformFixture
    {
        internal OtlpReceiver Otlp { get; } = new();

        protected override bool WithDemoData => false;

        protected override IReadOnlyDictionary<string, string?> Configuration => Services
            .SelectMany(service => new Dictionary<string, string?>
            {
                [$"Resources:{service}:Environment:OTEL_EXPORTER_OTLP_ENDPOINT"] = Otlp.Url,
                [$"Resources:{service}:Environment:OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
                [$"Resources:{service}:Environment:OTEL_BSP_SCHEDULE_DELAY"] = "200",
                [$"Resources:{service}:Environment:OTEL_BLRP_SCHEDULE_DELAY"] = "200",
                [$"Resources:{service}:Environment:OTEL_METRIC_EXPORT_INTERVAL"] = "500",
            })
            .ToDictionary(e => e.Key, e => e.Value);
    }
}
