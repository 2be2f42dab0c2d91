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

    [Fact]
    public async Task AChangeClickHouseRefusesIsIsolatedFromItsBatchAndDeadLetteredWithTheServersReasonAndTheTableGoesOn()
    {
        const string table = "apply_refused";
        ChangeColumn[] columns = [Column("id", "int8", key: true), Column("n", "int4")];
        Dictionary<string, string?> Row(int id, int n) => new() { ["id"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture), ["n"] = n.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await platform.SendAsync(table, Change("c", table, 1, columns, after: Row(1, 1)));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"n":1}"""]);

        // A table rule that refuses one value on purpose: the envelope is valid and converts, ClickHouse refuses the row.
        await platform.ClickHouse.ExecuteAsync($"ALTER TABLE cdc_{table} ADD COLUMN refuse_drill UInt8 MATERIALIZED throwIf(n = 13)");
        try
        {
            // One batch: the refused change sits between good ones, and the update of row 1 after it is applied too.
            await platform.SendAsync(table,
                Change("c", table, 2, columns, after: Row(2, 2)),
                Change("c", table, 3, columns, after: Row(3, 13)),
                Change("c", table, 4, columns, after: Row(4, 4)),
                Change("u", table, 5, columns, after: Row(1, 10), before: Row(1, 1)));
            await platform.AssertCurrentAsync(table,
            [
                """{"tenant_id":"acme","id":1,"n":10}""", """{"tenant_id":"acme","id":2,"n":2}""", """{"tenant_id":"acme","id":4,"n":4}""",
            ]);

            var refused = Assert.Single(await platform.DeadLettersAsync(table, 1));
            Assert.StartsWith("ClickHouse refused the row: ClickHouse error 395", refused.Reason);
            Assert.Contains("\"n\":\"13\"", refused.Value);
            Assert.StartsWith(Topic(table) + "/", refused.Source);

            // Not paused: what comes next is applied, nothing waits on the topic, and the refusal is counted where operators look.
            await platform.SendAsync(table, Change("c", table, 6, columns, after: Row(5, 5)));
            await platform.AssertCurrentAsync(table,
            [
                """{"tenant_id":"acme","id":1,"n":10}""", """{"tenant_id":"acme","id":2,"n":2}""", """{"tenant_id":"acme","id":4,"n":4}""", """{"tenant_id":"acme","id":5,"n":5}""",
            ]);
            var status = await Eventually.MatchesAsync(platform.StatusAsync, s => TableStatus(s, table)["pendingChanges"]?.GetValue<long>() == 0, TimeSpan.FromSeconds(30));
            Assert.NotEqual("stopped", TableStatus(status, table)["status"]!.GetValue<string>());
            Assert.Equal(1, TableStatus(status, table)["refusedByClickHouse"]!.GetValue<long>());

            var tenant = await platform.CreateTenantAsync();
            using var api = platform.CreateApiClient(tenant.ReadKey);
            var health = await api.GetObjectAsync("/v1/pipeline/health");
            var tableHealth = health["platform"]!["cdc"]!["tables"]!.AsArray().Single(t => (string)t!["table"]! == "public." + table)!;
            Assert.Equal(1, (long)tableHealth["refusedByClickHouse"]!);
        }
        finally
        {
            await platform.ClickHouse.ExecuteAsync($"ALTER TABLE cdc_{table} DROP COLUMN refuse_drill");
        }
    }
}
