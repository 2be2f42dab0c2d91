using Platform.ClickHouse;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>An infrastructure resource given a connection string is an existing server: used, not started.</summary>
public sealed class ExternalServerTests(ClickHouseFixture existing) : IClassFixture<ClickHouseFixture>, IAsyncLifetime
{
    private ExternalClickHousePlatform? _platform;

    public async Task InitializeAsync()
    {
        _platform = new ExternalClickHousePlatform(existing.ConnectionString.Replace("Database=tests", "Database=external_analytics", StringComparison.Ordinal));
        await _platform.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        if (_platform is not null)
        {
            await _platform.DisposeAsync();
        }
    }

    [Fact]
    public async Task AClickHouseConnectionStringMakesThePlatformUseThatServerInsteadOfStartingOne()
    {
        var platform = _platform!;
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);

        using var posted = await collector.PostAsync("/v1/events", Http.Json(Http.Event("external", "u1")));
        posted.EnsureSuccessStatusCode();
        await api.CountUntilAsync(1);

        Assert.True(platform.App["clickhouse"].IsExternal);
        Assert.DoesNotContain(OrphanProcesses.Using(platform.StateDirectory), p => p.Contains("clickhouse-server", StringComparison.Ordinal));
        Assert.Equal("1", await existing.Client.QueryScalarAsync(
            $"SELECT count() FROM external_analytics.raw_events WHERE tenant_id = {ClickHouseSql.Literal(tenant.Id)}"));
    }

    private sealed class ExternalClickHousePlatform(string clickHouse) : PlatformFixture
    {
        protected override bool WithDemoData => false;

        protected override IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?> { ["ConnectionStrings:clickhouse"] = clickHouse };
    }
}
