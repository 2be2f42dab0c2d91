using AppHost.Demo;
using AppHost.Infrastructure;
using AppHost.Lifecycle;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Npgsql;
using Microsoft.Extensions.DependencyInjection;
using Platform.Testing;

namespace AppHost.Tests;

/// <summary>The demo product database on a real PostgreSQL, declared as the AppHost declares it: schema, seed, writer.</summary>
public sealed class DemoProductTests : IAsyncLifetime
{
    private string _state = "";
    private DistributedApplication _app = null!;
    private string _connectionString = "";

    public async Task InitializeAsync()
    {
        _state = await TestState.NewDirectoryAsync("demo-product");
        var builder = PlatformApp.CreatePartialBuilder();
        var options = new PlatformOptions { StateDirectory = _state, FixedPorts = false };
        options.PrepareStateDirectory();
        var database = builder.AddPlatformPostgres("postgres", options).AddDatabase("app");
        _app = builder.Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await _app.StartAsync(timeout.Token);
        await _app.ResourceNotifications.WaitForResourceHealthyAsync("app", timeout.Token);
        _connectionString = (await database.Resource.GetConnectionStringAsync(timeout.Token))!;
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        TestState.Delete(_state);
    }

    [Fact]
    public async Task TheSchemaIsCreatedAndSeededOnceHoweverOftenTheAppHostStarts()
    {
        await ProductSchemaResource.CreateAsync(_connectionString, seed: true, CancellationToken.None);
        await ExecuteAsync("UPDATE accounts SET plan = 'enterprise' WHERE id = 1");
        await ProductSchemaResource.CreateAsync(_connectionString, seed: true, CancellationToken.None);

        Assert.Equal(ProductSchemaResource.SeedAccounts, await CountAsync("SELECT count(*) FROM accounts"));
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"user-{i:00}"), await TextsAsync("SELECT id FROM users ORDER BY id"));
        Assert.Equal(["business", "enterprise", "free", "team"], await TextsAsync("SELECT DISTINCT plan FROM accounts ORDER BY plan"));
        // One active subscription per paying account, priced by plan and seats.
        Assert.Equal(0, await CountAsync("""
            SELECT count(*) FROM accounts a LEFT JOIN subscriptions s ON s.account_id = a.id AND s.status = 'active'
            WHERE (a.plan <> 'free') <> (s.id IS NOT NULL)
            """));
        Assert.Equal("enterprise", (await TextsAsync("SELECT plan FROM accounts WHERE id = 1")).Single()); // a restart keeps changes
    }

    [Fact]
    public async Task WithoutDemoDataTheTablesAreCreatedEmpty()
    {
        await ProductSchemaResource.CreateAsync(_connectionString, seed: false, CancellationToken.None);

        Assert.Equal(0, await CountAsync("SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM users) + (SELECT count(*) FROM subscriptions)"));
    }

    [Fact]
    public async Task TheWriterSignsUpChangesPlansAndSeatsCancelsAndDeletes()
    {
        await ProductSchemaResource.CreateAsync(_connectionString, seed: true, CancellationToken.None);
        await using var dataSource = NpgsqlDataSource.Create(_connectionString);

        var changes = new List<string>();
        for (var step = 0; step < 20; step++)
        {
            changes.Add(await DemoWriterResource.ChangeOnceAsync(dataSource, step, CancellationToken.None));
        }

        Assert.Collection(changes.Take(5),
            c => Assert.StartsWith("signup: account 9", c),
            c => Assert.StartsWith("plan change: account", c),
            c => Assert.StartsWith("seat change: account", c),
            c => Assert.StartsWith("cancellation: account", c),
            c => Assert.StartsWith("user deleted: none yet", c));
        // Four signups (accounts 9-12); the fourth deletion round finds four signup users and erases the oldest.
        Assert.Equal("user deleted: signup-9", changes[19]);
        Assert.Equal(12, await CountAsync("SELECT count(*) FROM accounts"));
        Assert.Equal(["signup-10", "signup-11", "signup-12"], await TextsAsync("SELECT id FROM users WHERE id LIKE 'signup-%' ORDER BY id"));
        // Every account has at most one active subscription, and exactly one unless it is free.
        Assert.Equal(0, await CountAsync("""
            SELECT count(*) FROM accounts a
            WHERE (SELECT count(*) FROM subscriptions s WHERE s.account_id = a.id AND s.status = 'active') <> CASE WHEN a.plan = 'free' THEN 0 ELSE 1 END
            """));
    }

    [Fact]
    public async Task TheWriterRunsInTheBackgroundAndStopsWithTheAppHost()
    {
        // A platform of its own, so the writer's changes cannot disturb the other tests' counts.
        var state = await TestState.NewDirectoryAsync("demo-writer");
        try
        {
            var builder = PlatformApp.CreatePartialBuilder();
            var options = new PlatformOptions { StateDirectory = state, FixedPorts = false };
            options.PrepareStateDirectory();
            var database = builder.AddPlatformPostgres("postgres", options).AddDatabase("app");
            var schema = builder.AddTask(new ProductSchemaResource("app-schema", database.Resource, seed: true)).WaitFor(database);
            var writer = builder.AddTask(new DemoWriterResource("demo-writer", database.Resource, TimeSpan.FromMilliseconds(100))).WaitForCompletion(schema);
            await using var app = builder.Build();
            await app.StartAsync();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (writer.Resource.Changes < 3 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            var stop = app.StopAsync();
            Assert.Same(stop, await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(60))));
            await stop;
            var changes = writer.Resource.Changes;
            await Task.Delay(300);

            Assert.True(changes >= 3, $"{changes} changes");
            Assert.Equal(changes, writer.Resource.Changes);
        }
        finally
        {
            TestState.Delete(state);
        }
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<long> CountAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    private async Task<List<string>> TextsAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var texts = new List<string>();
        while (await reader.ReadAsync())
        {
            texts.Add(reader.GetString(0));
        }

        return texts;
    }
}
