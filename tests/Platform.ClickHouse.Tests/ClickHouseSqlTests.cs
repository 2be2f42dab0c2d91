using System.Text.Json;
using System.Text.Json.Serialization;
using Platform.Testing;

namespace Platform.ClickHouse.Tests;

public class ClickHouseSqlTests(ClickHouseFixture clickHouse) : IClassFixture<ClickHouseFixture>
{
    public static TheoryData<string> HostileStrings => new()
    {
        "plain",
        "it's",
        @"back\slash",
        @"\'",
        @"\\'",
        "'; DROP TABLE tests.victim; --",
        "x' OR '1'='1",
        "new\nline\rcarriage\ttab",
        "nul\0byte",
        "bell\u0007and\u001bescape",
        "ünïcödé ✓ 日本語 😀",
        "`backtick` \"double\"",
        "",
        "{name:String}",
        "$1 ? %s",
    };

    [Theory]
    [MemberData(nameof(HostileStrings))]
    public async Task AnyStringLiteralRoundTripsThroughTheServerUnchanged(string value)
    {
        var rows = await clickHouse.Client.QueryAsync($"SELECT {ClickHouseSql.Literal(value)} AS value", TestJsonContext.Default.ValueRow);

        Assert.Equal(value, Assert.Single(rows).Value);
    }

    [Fact]
    public async Task AnInjectionAttemptStaysAValue()
    {
        await clickHouse.Client.ExecuteAsync("CREATE TABLE IF NOT EXISTS tests.victim (x String) ENGINE = Memory");
        await clickHouse.Client.ExecuteAsync("INSERT INTO tests.victim VALUES ('kept')");

        var count = await clickHouse.Client.QueryScalarAsync(
            $"SELECT count() FROM tests.victim WHERE x = {ClickHouseSql.Literal("nothing'; DROP TABLE tests.victim; SELECT '")}");

        Assert.Equal("0", count);
        Assert.Equal("1", await clickHouse.Client.QueryScalarAsync("SELECT count() FROM tests.victim"));
    }

    [Theory]
    [InlineData("events")]
    [InlineData("raw_events_v2")]
    [InlineData("_private")]
    public void SafeIdentifiersAreQuoted(string name) => Assert.Equal($"`{name}`", ClickHouseSql.Identifier(name));

    [Theory]
    [InlineData("")]
    [InlineData("1table")]
    [InlineData("a b")]
    [InlineData("a`b")]
    [InlineData("a;DROP")]
    [InlineData("db.table")]
    [InlineData("naïve")]
    public void UnsafeIdentifiersAreRefused(string name) => Assert.Throws<ArgumentException>(() => ClickHouseSql.Identifier(name));

    [Fact]
    public async Task DatesAreUtcWhateverTheServersZone()
    {
        var instant = new DateTimeOffset(2026, 3, 29, 1, 30, 0, TimeSpan.FromHours(2));

        var unix = await clickHouse.Client.QueryScalarAsync($"SELECT toUnixTimestamp({ClickHouseSql.Literal(instant)})");

        Assert.Equal(instant.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), unix);
    }
}

public sealed record ValueRow(string Value);

[JsonSerializable(typeof(ValueRow))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class TestJsonContext : JsonSerializerContext;
