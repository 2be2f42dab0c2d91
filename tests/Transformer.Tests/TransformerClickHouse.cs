using Microsoft.Extensions.Logging.Abstractions;
using Platform.ClickHouse;
using Platform.Testing;

namespace Transformer.Tests;

/// <summary>One real ClickHouse server for the Transformer's tests; each test takes a fresh database on it.</summary>
public sealed class TransformerClickHouse : IAsyncLifetime
{
    private readonly ClickHouseFixture _server = new();
    private int _databases;

    public Task InitializeAsync() => _server.InitializeAsync();

    public Task DisposeAsync() => _server.DisposeAsync();

    /// <summary>
    /// A new, empty database with the raw tables as the Ingestor's migrations create them and the
    /// Transformer's own tables, and a client whose default database it is.
    /// </summary>
    public async Task<ClickHouseClient> NewDatabaseAsync(string purpose)
    {
        var name = $"{purpose}_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..(purpose.Length + 12)];
        var client = new ClickHouseClient(new HttpClient(), _server.Client.Settings with { Database = name });
        var migrator = new ClickHouseMigrator(client, NullLogger<ClickHouseMigrator>.Instance);
        await migrator.ApplyAsync(ClickHouseMigration.FromAssembly(typeof(Ingestor.IngestorOptions).Assembly), "ingestor", CancellationToken.None);
        await migrator.ApplyAsync(ClickHouseMigration.FromAssembly(typeof(TransformerOptions).Assembly), "transformer", CancellationToken.None);
        return client;
    }
}

[CollectionDefinition(Name)]
public sealed class TransformerCollection : ICollectionFixture<TransformerClickHouse>
{
    public const string Name = "transformer-clickhouse";
}
