namespace Transformer.Tests;

[Collection(TransformerCollection.Name)]
public class RunHistorySchemaTests(TransformerClickHouse clickHouse)
{
    [Fact]
    public async Task TheTransformersOwnTablesAreCreatedBesideTheRawOnes()
    {
        var client = await clickHouse.NewDatabaseAsync("schema");

        var tables = await client.QueryScalarAsync("SELECT arrayStringConcat(groupArray(name), ',') FROM (SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name)");

        // The Ingestor's tables (raw_events and what its later migrations add) are there too.
        Assert.Subset(tables.Split(',').ToHashSet(), new HashSet<string> { "raw_events", "retention_log", "schema_migrations", "transform_runs", "transform_test_results" });
    }
}
