using Api.Alerts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Time.Testing;

namespace Platform.FunctionalTests.Alerts;

/// <summary>The evaluator's and sender's rules that need no platform: transitions, retry waits, the catalogue, receiver URLs.</summary>
public sealed class AlertRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private static readonly AlertReading High = new(10, null, "/v1/pipeline/health");

    [Fact]
    public void ARuleWithoutForFiresAtOnceStaysFiringSilentlyAndResolvesOnce()
    {
        var (firing, first) = AlertEvaluator.Next(AlertState.Initial, breached: true, TimeSpan.Zero, High, T0);
        Assert.Equal(("firing", "firing"), (firing.Status, first));
        var (still, again) = AlertEvaluator.Next(firing, breached: true, TimeSpan.Zero, High, T0.AddSeconds(1));
        Assert.Equal(("firing", (string?)null), (still.Status, again));
        Assert.Equal(T0, still.Since);
        var (ok, resolved) = AlertEvaluator.Next(still, breached: false, TimeSpan.Zero, High, T0.AddSeconds(2));
        Assert.Equal(("ok", "resolved"), (ok.Status, resolved));
        Assert.Equal((string?)null, AlertEvaluator.Next(ok, breached: false, TimeSpan.Zero, High, T0.AddSeconds(3)).Notify);
    }

    [Fact]
    public void ARuleWithForFiresOnlyAfterTheConditionHeldThatLong()
    {
        var holdFor = TimeSpan.FromMinutes(5);
        var (pending, none) = AlertEvaluator.Next(AlertState.Initial, true, holdFor, High, T0);
        Assert.Equal(("pending", (string?)null), (pending.Status, none));
        Assert.Null(AlertEvaluator.Next(pending, true, holdFor, High, T0.AddMinutes(4)).Notify);
        var (back, silent) = AlertEvaluator.Next(pending, false, holdFor, High, T0.AddMinutes(4));
        Assert.Equal(("ok", (string?)null), (back.Status, silent));
        Assert.Equal("firing", AlertEvaluator.Next(pending, true, holdFor, High, T0.AddMinutes(5)).Notify);
    }

    [Fact]
    public void ComparisonsNeedABaseline()
    {
        var rule = Rule(AlertConditions.DropPct, 20, compareTo: "previous_day");
        Assert.True(rule.Breached(new AlertReading(4, 10, "")));
        Assert.False(rule.Breached(new AlertReading(9, 10, "")));
        Assert.False(rule.Breached(new AlertReading(0, 0, "")));
        Assert.True(Rule(AlertConditions.RisePct, 50, compareTo: "previous_week").Breached(new AlertReading(16, 10, "")));
        Assert.True(Rule(AlertConditions.Below, 5).Breached(new AlertReading(4, null, "")));
        Assert.False(Rule(AlertConditions.Above, 5).Breached(new AlertReading(5, null, "")));
    }

    [Fact]
    public void RetriesWaitTheBaseDelayDoubledAndCapped()
    {
        var delays = Enumerable.Range(1, 6).Select(a => WebhookSender.RetryDelay(a, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60)).TotalSeconds);
        Assert.Equal([5, 10, 20, 40, 60, 60], delays);
    }

    [Fact]
    public void EveryCatalogueMetricHasAReader() =>
        Assert.All(AlertMetrics.All, m => Assert.Contains(m.Name, AlertMetricReader.Readable));

    [Theory]
    [InlineData("30s", 30)]
    [InlineData("5m", 300)]
    [InlineData("2h", 7200)]
    [InlineData("1d", 86400)]
    public void DurationsReadAndPrintTheSame(string text, int seconds)
    {
        Assert.True(AlertDurations.TryParse(text, out var duration));
        Assert.Equal(TimeSpan.FromSeconds(seconds), duration);
        Assert.Equal(text, AlertDurations.Format(duration));
    }

    [Theory]
    [InlineData("5")]
    [InlineData("5 m")]
    [InlineData("-5m")]
    [InlineData("5w")]
    [InlineData("9999999d")]
    public void MalformedDurationsAreRefused(string text) => Assert.False(AlertDurations.TryParse(text, out _));

    [Theory]
    [InlineData("http://127.0.0.1:8123/?query=DROP", false)] // ClickHouse
    [InlineData("http://localhost:5432/", false)] // PostgreSQL
    [InlineData("http://[::1]:9092/", false)] // Kafka
    [InlineData("http://0.0.0.0:5080/v1/events", false)] // the Collector
    [InlineData("http://collector.internal:8080/x", false)] // a deployed service's own address
    [InlineData("http://user:pw@hooks.example.com/x", false)]
    [InlineData("gopher://hooks.example.com/x", false)]
    [InlineData("http://127.0.0.1:9999/hook", true)] // a local receiver on another port
    [InlineData("http://localhost:5090/hook", false)] // the Api's own port, from HTTP_PORTS
    [InlineData("https://hooks.slack.com/services/T0/B0/x", true)]
    public void WebhookUrlsMayNotPointAtThePlatform(string url, bool allowed)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:clickhouse"] = "Endpoint=http://127.0.0.1:8123;Username=default;Password=;Database=analytics",
            ["ConnectionStrings:platform"] = "Host=127.0.0.1;Port=5432;Username=platform;Password=x;Database=platform",
            ["ConnectionStrings:kafka"] = "127.0.0.1:9092",
            ["services:collector:http:0"] = "http://127.0.0.1:5080",
            ["services:ingestor:http:0"] = "http://collector.internal:8080",
            ["http_ports"] = "5090",
        }).Build();
        var problem = new ReceiverGuard(configuration).Problem(url);
        Assert.True(allowed == (problem is null), problem ?? $"{url} was allowed");
    }

    [Theory]
    [InlineData("events", "60m", "1h")]
    [InlineData("events", "15m", "15m")]
    [InlineData("active_users", "week", "week")]
    [InlineData("ingest_lag_seconds", null, null)]
    public void AWindowIsStoredInItsOneWrittenForm(string metric, string? window, string? stored)
    {
        var scope = AlertMetrics.Find(metric)!.Scope == AlertScope.Tenant ? "t" : null;
        var request = new AlertRuleRequest("r", metric, AlertConditions.Above, 1, new WebhookRequest("http://example.com/h"), Tenant: scope, Window: window);
        var (rule, problem) = AlertRuleValidation.Validate(request, new ReceiverGuard(new ConfigurationBuilder().Build()), T0);
        Assert.Null(problem);
        Assert.Equal(stored, rule!.Window);
    }

    [Fact]
    public async Task RulesOfOneTickShareAReadingAndOneRulesTimeoutDoesNotCancelItForTheOthers()
    {
        var clock = new FakeTimeProvider(T0);
        var reads = 0;
        var release = new TaskCompletionSource();
        var shared = new SharedReading<int>(async cancellationToken =>
        {
            var n = Interlocked.Increment(ref reads);
            await release.Task.WaitAsync(cancellationToken);
            return n;
        }, freshFor: TimeSpan.FromMilliseconds(500), timeout: TimeSpan.FromSeconds(30), clock);

        using var impatient = new CancellationTokenSource();
        var first = shared.GetAsync(impatient.Token);
        var second = shared.GetAsync(CancellationToken.None);
        impatient.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        release.SetResult();
        Assert.Equal(1, await second);

        clock.Advance(TimeSpan.FromMilliseconds(499));
        Assert.Equal(1, await shared.GetAsync(CancellationToken.None));
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(2, await shared.GetAsync(CancellationToken.None));
        Assert.Equal(2, reads);
    }

    private static AlertRule Rule(string condition, double threshold, string? compareTo = null) =>
        new(1, "r", "t", "active_users", "day", null, condition, compareTo, threshold, TimeSpan.FromMinutes(1), TimeSpan.Zero,
            "http://example.com", "json", "secret-secret-secret", T0, AlertState.Initial);
}
