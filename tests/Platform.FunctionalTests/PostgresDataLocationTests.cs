using AppHost.Hosting;
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
        string? dataDirectory;
        await using (var first = Start(out var server))
        {
            await first.StartAsync();
            dataDirectory = server.DataDirectory;
            await ExecuteAsync(first, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)");
        }

        try
        {
            await using var second = Start(out _);
            await second.StartAsync();

            Assert.Equal(42, await ExecuteAsync(second, "SELECT x FROM kept"));
            if (PosixUser.IsRoot)
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

    private DistributedApplication Start(out PostgresServerResource server)
    {
        var builder = new DistributedApplicationBuilder(
            new AppHostOptions { StateDirectory = State, PreferFixedPorts = false, ConsoleLogs = false, Demo = false },
            new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build());
        server = builder.AddPostgres("postgres");
        server.AddDatabase(builder, "probe");
        return builder.Build();
    }

    private static async Task<object?> ExecuteAsync(DistributedApplication app, string sql)
    {
        await using var connection = new NpgsqlConnection(app["probe"].ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
