using AppHost;
using AppHost.Infrastructure;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Npgsql;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>A state folder the postgres user cannot enter (a checkout under /root, a mktemp folder) still works.</summary>
public sealed class PostgresDataLocationTests() : StateFolderTest("private-state")
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        File.SetUnixFileMode(State, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); // 0700, as mktemp -d makes it
    }

    [Fact]
    public async Task PostgresComesUpAndKeepsItsDataWhenItsUserCannotEnterTheStateFolder()
    {
        var locationFile = Path.Combine(State, "postgres", "data-location");
        string? dataDirectory = null;
        await using (var first = await StartAsync())
        {
            dataDirectory = File.Exists(locationFile) ? File.ReadAllText(locationFile).Trim() : null;
            await ExecuteAsync(first.Connection, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)");
        }

        try
        {
            await using var second = await StartAsync();

            Assert.Equal(42, await ExecuteAsync(second.Connection, "SELECT x FROM kept"));
            if (Environment.UserName == "root")
            {
                Assert.StartsWith("/var/lib/platform-postgres/", dataDirectory);
                Assert.Equal(dataDirectory, File.ReadAllText(Path.Combine(State, "postgres", "data-location")).Trim());
            }
        }
        finally
        {
            if (dataDirectory?.StartsWith("/var/lib/platform-postgres/", StringComparison.Ordinal) == true)
            {
                Directory.Delete(dataDirectory, recursive: true);
            }
        }
    }

    private async Task<Running> StartAsync()
    {
        var builder = PlatformApp.CreatePartialBuilder();
        var options = new PlatformOptions { StateDirectory = State, FixedPorts = false, Demo = false };
        options.PrepareStateDirectory();
        var probe = builder.AddPlatformPostgres("postgres", options).AddDatabase("probe");
        var app = builder.Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await app.StartAsync(timeout.Token);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("probe", timeout.Token);
        return new Running(app, (await probe.Resource.GetConnectionStringAsync(timeout.Token))!);
    }

    private static async Task<object?> ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    private sealed record Running(DistributedApplication App, string Connection) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }
}
