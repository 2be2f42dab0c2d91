using AppHost;
using AppHost.Infrastructure;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Platform.ClickHouse;
using Xunit;

namespace Platform.Testing;

/// <summary>A real ClickHouse server, declared the way the AppHost declares it, alone, on a free port.</summary>
public sealed class ClickHouseFixture : IAsyncLifetime
{
    private DistributedApplication? _app;
    private string _state = "";

    public ClickHouseClient Client { get; private set; } = null!;

    /// <summary>The server's connection string, as another AppHost would be given it.</summary>
    public string ConnectionString => Client.Settings.ToString();

    public async Task InitializeAsync()
    {
        _state = await TestState.NewDirectoryAsync("clickhouse");
        var builder = PlatformApp.CreatePartialBuilder();
        var options = new PlatformOptions { StateDirectory = _state, FixedPorts = false, Demo = false };
        options.PrepareStateDirectory();
        var clickhouse = builder.AddClickHouse("clickhouse", database: "tests", options);
        _app = builder.Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await _app.StartAsync(timeout.Token);
        await _app.ResourceNotifications.WaitForResourceHealthyAsync("clickhouse", timeout.Token);
        var connectionString = await clickhouse.Resource.GetConnectionStringAsync(timeout.Token);
        Client = new ClickHouseClient(new HttpClient(), ClickHouseConnectionSettings.Parse(connectionString!));
        await Client.ExecuteWithoutDatabaseAsync("CREATE DATABASE IF NOT EXISTS tests");
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        TestState.Delete(_state);
    }
}
