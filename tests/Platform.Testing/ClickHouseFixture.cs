using AppHost.Hosting;
using Platform.ClickHouse;
using Xunit;

namespace Platform.Testing;

/// <summary>A real ClickHouse server, started the way the AppHost starts it, alone, on a free port.</summary>
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
        var builder = new DistributedApplicationBuilder(
            new AppHostOptions { StateDirectory = _state, PreferFixedPorts = false, ConsoleLogs = false, Demo = false },
            new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        var clickhouse = builder.AddClickHouse("clickhouse", database: "tests");
        _app = builder.Build();
        await _app.StartAsync();
        Client = new ClickHouseClient(new HttpClient(), ClickHouseConnectionSettings.Parse(clickhouse.ConnectionString!));
        await Client.ExecuteWithoutDatabaseAsync("CREATE DATABASE IF NOT EXISTS tests");
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }

        TestState.Delete(_state);
    }
}
