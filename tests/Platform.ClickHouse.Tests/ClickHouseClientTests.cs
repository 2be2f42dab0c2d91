using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Testing;

namespace Platform.ClickHouse.Tests;

public class ClickHouseClientTests(ClickHouseFixture clickHouse) : IClassFixture<ClickHouseFixture>
{
    [Fact]
    public async Task RowsInsertedAsJsonEachRowAreReadBackTyped()
    {
        await clickHouse.Client.ExecuteAsync("CREATE TABLE IF NOT EXISTS tests.people (name String, age UInt32, seen DateTime('UTC')) ENGINE = MergeTree ORDER BY name");
        var rows = new[] { new PersonRow("ada", 36, 1767225600), new PersonRow("o'brien \\ \"q\"", 41, 1767225601) };

        var written = await clickHouse.Client.InsertAsync("tests.people", rows, PeopleJsonContext.Default.PersonRow);
        var read = await clickHouse.Client.QueryAsync("SELECT name, age, toUnixTimestamp(seen) AS seen FROM tests.people ORDER BY name", PeopleJsonContext.Default.PersonRow);

        Assert.Equal(2, written);
        Assert.Equal(rows.OrderBy(r => r.Name, StringComparer.Ordinal), read);
    }

    [Fact]
    public async Task RowsInsertedAsRowBinaryAreReadBackExactlyAndAColumnLeftOutTakesItsDefault()
    {
        await clickHouse.Client.ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS tests.binary_rows (name String, small UInt8, ms UInt16, n UInt32, seen DateTime('UTC'), note String DEFAULT 'none', added DateTime('UTC') DEFAULT now())
            ENGINE = MergeTree ORDER BY name
            """);
        var long300 = new string('x', 200) + "é" + new string('y', 99); // a length past one varint byte, with a two-byte character
        using var rows = new RowBinaryBuffer(initialCapacity: 16); // small, so the buffer has to grow
        foreach (var (name, small, ms, n, seen) in new[] { ("ada \t'\"\n", (byte)255, (ushort)999, 4_000_000_000u, 0L), (long300, (byte)0, (ushort)0, 0u, 4_294_967_295L) })
        {
            rows.String(name);
            rows.UInt8(small);
            rows.UInt16(ms);
            rows.UInt32(n);
            rows.DateTime(seen);
        }

        var before = await clickHouse.Client.QueryLongAsync("SELECT toUnixTimestamp(now())");
        await clickHouse.Client.InsertRowBinaryAsync("tests.binary_rows", "name, small, ms, n, seen", rows.Written);
        var read = await clickHouse.Client.QueryScalarAsync(
            "SELECT name = 'ada \\t\\'\"\\n', small, ms, n, toUnixTimestamp(seen), note, toUnixTimestamp(added) >= " + before + " FROM tests.binary_rows ORDER BY name");
        var lengths = await clickHouse.Client.QueryScalarAsync("SELECT length(name), lengthUTF8(name) FROM tests.binary_rows ORDER BY name");

        Assert.Equal("1\t255\t999\t4000000000\t0\tnone\t1\n0\t0\t0\t0\t4294967295\tnone\t1", read);
        Assert.Equal("8\t8\n301\t300", lengths);
        Assert.Throws<ArgumentOutOfRangeException>(() => rows.DateTime(-1));
    }

    [Fact]
    public async Task AWholeNumberAnswerIsReadAsALong()
    {
        Assert.Equal(4_294_967_296L, await clickHouse.Client.QueryLongAsync("SELECT toUInt64(4294967296)"));
    }

    [Fact]
    public async Task PerQuerySettingsReachTheServerAndOnlyPlainNamesPass()
    {
        var options = new ClickHouseQueryOptions { Settings = new Dictionary<string, string> { ["max_threads"] = "1", ["max_bytes_before_external_group_by"] = "123456789" } };

        var values = await clickHouse.Client.QueryScalarAsync("SELECT arrayStringConcat(groupArray(value), ',') FROM (SELECT value FROM system.settings WHERE name IN ('max_threads', 'max_bytes_before_external_group_by') ORDER BY name)", options);

        Assert.Equal("123456789,1", values);
        await Assert.ThrowsAsync<ArgumentException>(() => clickHouse.Client.QueryScalarAsync("SELECT 1", new ClickHouseQueryOptions { Settings = new Dictionary<string, string> { ["max_threads&readonly"] = "0" } }));
    }

    [Fact]
    public async Task ASyntaxErrorBecomesAServerExceptionWithItsCode()
    {
        var error = await Assert.ThrowsAsync<ClickHouseServerException>(() => clickHouse.Client.QueryScalarAsync("SELEC 1"));

        Assert.Equal(62, error.Code);
        Assert.True(error.IsQueryError);
    }

    [Fact]
    public async Task AnUnknownTableBecomesAServerExceptionWithItsCode()
    {
        var error = await Assert.ThrowsAsync<ClickHouseServerException>(() => clickHouse.Client.QueryScalarAsync("SELECT * FROM tests.no_such_table"));

        Assert.Equal(60, error.Code);
    }

    [Fact]
    public async Task AReadonlyQueryCannotWrite()
    {
        await clickHouse.Client.ExecuteAsync("CREATE TABLE IF NOT EXISTS tests.guarded (x UInt8) ENGINE = Memory");

        var error = await Assert.ThrowsAsync<ClickHouseServerException>(() =>
            clickHouse.Client.ExecuteAsync("INSERT INTO tests.guarded VALUES (1)", new ClickHouseQueryOptions { Readonly = true }));

        Assert.Equal(164, error.Code);
    }

    [Fact]
    public async Task AnUnreachableServerIsReportedAsUnavailable()
    {
        var nowhere = new ClickHouseClient(new HttpClient(), ClickHouseConnectionSettings.Parse("Endpoint=http://127.0.0.1:1;Database=x"));

        await Assert.ThrowsAsync<ClickHouseUnavailableException>(() => nowhere.QueryScalarAsync("SELECT 1"));
        Assert.False(await nowhere.PingAsync());
    }

    [Fact]
    public async Task MigrationsApplyOnceInOrderAndAreRecorded()
    {
        var client = new ClickHouseClient(new HttpClient(), clickHouse.Client.Settings with { Database = "migrations_test" });
        var migrator = new ClickHouseMigrator(client, NullLogger<ClickHouseMigrator>.Instance);
        ClickHouseMigration[] migrations =
        [
            new(1, "first", "CREATE TABLE IF NOT EXISTS {database}.a (x UInt8) ENGINE = Memory;\nCREATE TABLE IF NOT EXISTS {database}.b (y String) ENGINE = Memory"),
            new(2, "second", "-- a comment; with a semicolon\nINSERT INTO {database}.b VALUES ('semi;colon')"),
        ];

        var first = await migrator.ApplyAsync(migrations, "test", CancellationToken.None);
        var second = await migrator.ApplyAsync(migrations, "test", CancellationToken.None);

        Assert.Equal(2, first);
        Assert.Equal(0, second);
        Assert.Equal("semi;colon", await client.QueryScalarAsync("SELECT y FROM migrations_test.b"));
        Assert.Equal("1\n2", await client.QueryScalarAsync("SELECT version FROM migrations_test.schema_migrations WHERE component = 'test' ORDER BY version"));
    }

    [Fact]
    public void ConnectionStringsInBothShapesParse()
    {
        var endpoint = ClickHouseConnectionSettings.Parse("Endpoint=http://ch:8123;Username=u;Password=p;Database=analytics");
        var host = ClickHouseConnectionSettings.Parse("Host=ch;Port=9999;Username=u;Database=analytics");

        Assert.Equal(new Uri("http://ch:8123/"), endpoint.Endpoint);
        Assert.Equal(("u", "p", "analytics"), (endpoint.Username, endpoint.Password, endpoint.Database));
        Assert.Equal(new Uri("http://ch:9999/"), host.Endpoint);
        Assert.Throws<ArgumentException>(() => ClickHouseConnectionSettings.Parse("Endpoint=http://ch:8123;Database=bad`name"));
    }

    [Fact]
    public void ScriptsSplitAtSemicolonsOutsideQuotesAndComments()
    {
        var statements = SqlScript.Split("SELECT 'a;b';\n-- skip; this\nSELECT `c;d`; ;\nSELECT 3");

        Assert.Equal(["SELECT 'a;b'", "SELECT `c;d`", "SELECT 3"], statements);
    }
}

public sealed record PersonRow(string Name, long Age, long Seen);

[JsonSerializable(typeof(PersonRow))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class PeopleJsonContext : JsonSerializerContext;
