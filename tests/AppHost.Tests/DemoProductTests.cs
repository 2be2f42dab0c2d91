using AppHost.Hosting;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace AppHost.Tests;

/// <summary>The demo product database on a real PostgreSQL that the AppHost's own resource starts: schema, seed, writer.</summary>
public sealed class DemoProductTests : IAsyncLifetime
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), "demo-product-test-" + Guid.NewGuid().ToString("N"));
    private ResourceContext _context = null!;
    private PostgresServerResource _server = null!;
    private PostgresDatabaseResource _database = null!;

    public async Task InitializeAsync()
    {
        var options = new AppHostOptions { StateDirectory = _state, PreferFixedPorts = false, ConsoleLogs = false };
        _context = new ResourceContext(options, new ConfigurationBuilder().Build(), new LogSink(Path.Combine(_state, "logs"), false),
            new ProcessTracker(_state), new PortAllocator(false));
        _server = new PostgresServerResource("postgres");
        _server.AllocatePorts(_context);
        await _server.StartAsync(_context, CancellationToken.None);
        _database = new PostgresDatabaseResource("app", _server);
        await _database.StartAsync(_context, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _server.StopAsync(_context);
        _context.Logs.Dispose();
        Directory.Delete(_state, recursive: true);
    }

    [Fact]
    public async Task TheSchemaIsCreatedAndSeededOnceHoweverOftenTheAppHostStarts()
    {
        await new ProductSchemaResource("app-schema", _database, seed: true).StartAsync(_context, CancellationToken.None);
        await ExecuteAsync("UPDATE accounts SET plan = 'enterprise' WHERE id = 1");
        await new ProductSchemaResource("app-schema", _database, seed: true).StartAsync(_context, CancellationToken.None);

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
        await new ProductSchemaResource("app-schema", _database, seed: false).StartAsync(_context, CancellationToken.None);

        Assert.Equal(0, await CountAsync("SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM users) + (SELECT count(*) FROM subscriptions)"));
    }

    [Fact]
    public async Task TheWriterSignsUpChangesPlansAndSeatsCancelsAndDeletes()
    {
        await new ProductSchemaResource("app-schema", _database, seed: true).StartAsync(_context, CancellationToken.None);
        await using var dataSource = NpgsqlDataSource.Create(_database.ConnectionString!);

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
    public async Task TheWriterRunsInTheBackgroundAndStopsCleanly()
    {
        await new ProductSchemaResource("app-schema", _database, seed: true).StartAsync(_context, CancellationToken.None);
        var writer = new DemoWriterResource("demo-writer", _database, TimeSpan.FromMilliseconds(100));

        await writer.StartAsync(_context, CancellationToken.None);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (writer.Changes < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var stop = writer.StopAsync(_context);
        Assert.Same(stop, await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(10))));
        await stop;
        var changes = writer.Changes;
        await Task.Delay(300);

        Assert.True(changes >= 3, $"{changes} changes");
        Assert.Equal(changes, writer.Changes);
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<long> CountAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    private async Task<List<string>> TextsAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_database.ConnectionString);
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
