using System.Text;
using Ingestor.Cdc;
using Platform.Testing;
using static Platform.FunctionalTests.Cdc.ApplyPlatform;

namespace Platform.FunctionalTests.Cdc;

/// <summary>
/// Records the apply side cannot use go to the CDC dead-letter topic with the reason (and the field), are counted,
/// and are committed; the good records around them are applied. A change for another tenant is refused.
/// </summary>
[Collection(ApplyCollection.Name)]
public sealed class ApplyBadInputTests(ApplyPlatform platform)
{
    [Fact]
    public async Task MalformedRecordsAndOtherTenantsChangesAreDeadLetteredWithTheirReasons()
    {
        const string table = "apply_bad";
        ChangeColumn[] columns = [Column("id", "int8", key: true), Column("n", "int4"), Column("at", "timestamptz")];
        var deadLetteredBefore = (await platform.StatusAsync())["cdc"]!["deadLettered"]!.GetValue<long>();
        var key = Encoding.UTF8.GetBytes("{\"id\":\"1\"}");
        byte[] Json(string text) => Encoding.UTF8.GetBytes(text);
        byte[] Bytes(ChangeEnvelope change) => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(change, CdcJsonContext.Default.ChangeEnvelope);
        const string source = """{"schema":"public","table":"apply_bad","version":5,"lsn":"0/5","commitTime":"2026-11-22T10:00:00Z","txId":5,"snapshot":false}""";
        const string cols = """[{"name":"id","type":"int8","typeModifier":-1,"key":true},{"name":"n","type":"int4","typeModifier":-1,"key":false},{"name":"at","type":"timestamptz","typeModifier":-1,"key":false}]""";

        // Every record on one Kafka key (one partition, so offsets give the order), with good ones on each side of the bad ones.
        await platform.SendRawAsync(table, key, Bytes(Change("c", table, 1, columns, after: new() { ["id"] = "1", ["n"] = "1", ["at"] = "2026-11-22T09:00:00Z" })));
        await platform.SendRawAsync(table, key, Json("this is not json"));
        await platform.SendRawAsync(table, key, Json($$"""{"before":null,"after":{"id":"1","n":"2","at":null},"source":{{source}},"columns":{{cols}},"tenantId":"acme"}"""));
        await platform.SendRawAsync(table, key, Json($$"""{"op":"x","before":null,"after":{"id":"1","n":"2","at":null},"source":{{source}},"columns":{{cols}},"tenantId":"acme"}"""));
        foreach (var change in new[]
        {
            Change("c", table, 6, columns, after: new() { ["n"] = "2", ["at"] = null }),
            Change("c", table, 7, columns, after: new() { ["id"] = "1", ["n"] = "two", ["at"] = null }),
            Change("c", table, 8, columns, after: new() { ["id"] = "1", ["n"] = "3", ["at"] = "yesterday" }),
            Change("c", table, 9, columns, after: new() { ["id"] = "1", ["n"] = "3000000000", ["at"] = null }),
            Change("u", table, 10, columns, after: new() { ["id"] = "1", ["n"] = "4", ["at"] = null }, before: new() { ["id"] = "1" }, tenant: "globex"),
            Change("d", table, 11, columns),
            Change("c", table, 12, [Column("id", "int8"), Column("n", "int4"), Column("at", "timestamptz")], after: new() { ["id"] = "1", ["n"] = "5", ["at"] = null }),
            Change("c", table, 13, columns, after: new() { ["id"] = "2", ["n"] = "20", ["at"] = "2026-11-22 11:30:00+02" }),
        })
        {
            await platform.SendRawAsync(table, key, Bytes(change));
        }

        await platform.AssertCurrentAsync(table,
        [
            """{"tenant_id":"acme","id":1,"n":1,"at":"2026-11-22 09:00:00"}""",
            """{"tenant_id":"acme","id":2,"n":20,"at":"2026-11-22 09:30:00"}""",
        ]);

        var deadLetters = await platform.DeadLettersAsync(table, 10);
        var reasons = deadLetters.OrderBy(d => long.Parse(d.Source.Split('/')[^1], System.Globalization.CultureInfo.InvariantCulture))
            .Select(d => (d.Field, d.Reason)).ToList();
        Assert.Equal(10, reasons.Count);
        Assert.StartsWith("The record is not a change envelope: ", reasons[0].Reason);
        Assert.Equal(("op", "op is required."), reasons[1]);
        Assert.Equal(("op", "Unknown op 'x' (expected c, u, d, r or t)."), reasons[2]);
        Assert.Equal(("after.id", "Key column 'id' has no value in after."), reasons[3]);
        Assert.Equal(("after.n", "Column 'n': 'two' is not an int4."), reasons[4]);
        Assert.Equal(("after.at", "Column 'at': 'yesterday' is not a timestamptz ClickHouse can store (ISO 8601, 1970-2105)."), reasons[5]);
        Assert.Equal(("after.n", "Column 'n': '3000000000' is not an int4."), reasons[6]);
        Assert.Equal(("tenantId", "tenantId 'globex' is not the bridge's tenant 'acme' (Cdc:TenantId): refused."), reasons[7]);
        Assert.Equal(("before", "A delete needs before (its key values)."), reasons[8]);
        Assert.Equal(("columns", "columns marks no key column: a row cannot be identified."), reasons[9]);
        Assert.All(deadLetters, d => Assert.StartsWith(Topic(table) + "/", d.Source));
        Assert.Equal("this is not json", deadLetters.Single(d => d.Reason.StartsWith("The record is not", StringComparison.Ordinal)).Value);

        // Counted, committed (nothing waits on the topic), and the table is not stopped by them.
        var status = await Eventually.MatchesAsync(platform.StatusAsync, s => TableStatus(s, table)["pendingChanges"]?.GetValue<long>() == 0, TimeSpan.FromSeconds(30));
        Assert.Equal(0, TableStatus(status, table)["pendingChanges"]!.GetValue<long>());
        Assert.True(status["cdc"]!["deadLettered"]!.GetValue<long>() >= deadLetteredBefore + 10);
        Assert.NotEqual("stopped", TableStatus(status, table)["status"]!.GetValue<string>());
    }
}
