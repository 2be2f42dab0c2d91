using System.Text.Json.Nodes;
using Ingestor.Cdc;
using Platform.Testing;
using static Platform.FunctionalTests.Cdc.ApplyPlatform;

namespace Platform.FunctionalTests.Cdc;

/// <summary>
/// Schema changes seen in the envelopes' columns: an added column is added to the table and its view; a dropped or
/// retyped column stops that table's apply with a clear error in the status, while the other tables go on.
/// </summary>
[Collection(ApplyCollection.Name)]
public sealed class ApplySchemaChangeTests(ApplyPlatform platform)
{
    [Fact]
    public async Task AnAddedColumnIsAddedToTheTableAndItsView()
    {
        const string table = "apply_added";
        ChangeColumn[] before = [Column("id", "int8", key: true), Column("email", "text")];
        ChangeColumn[] after = [.. before, Column("country", "varchar", typeModifier: 6)];
        await platform.SendAsync(table, Change("c", table, 10, before, after: new() { ["id"] = "1", ["email"] = "a@example.com" }));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"email":"a@example.com"}"""]);

        await platform.SendAsync(table,
            Change("c", table, 20, after, after: new() { ["id"] = "2", ["email"] = "b@example.com", ["country"] = "DE" }),
            Change("u", table, 30, after, after: new() { ["id"] = "1", ["email"] = "a@example.com", ["country"] = "FR" }, before: new() { ["id"] = "1" }),
            Change("c", table, 40, after, after: new() { ["id"] = "3", ["email"] = "c@example.com", ["country"] = null }));
        await platform.AssertCurrentAsync(table,
        [
            """{"tenant_id":"acme","id":1,"email":"a@example.com","country":"FR"}""",
            """{"tenant_id":"acme","id":2,"email":"b@example.com","country":"DE"}""",
            """{"tenant_id":"acme","id":3,"email":"c@example.com","country":null}""",
        ]);
        Assert.Equal("Nullable(String)", await platform.ClickHouse.QueryScalarAsync(
            "SELECT type FROM system.columns WHERE database = currentDatabase() AND table = 'cdc_apply_added' AND name = 'country'"));

        // The record of PostgreSQL types knows the new column, modifier included.
        Assert.Equal("id\tint8\t-1\t1\nemail\ttext\t-1\t0\ncountry\tvarchar\t6\t0", await platform.ClickHouse.QueryScalarAsync(
            "SELECT column_name, pg_type, type_modifier, is_key FROM cdc_columns FINAL WHERE table_name = 'cdc_apply_added' ORDER BY position"));
        Assert.NotEqual("stopped", Status(await platform.StatusAsync(), table));
    }

    [Fact]
    public async Task ADroppedColumnStopsItsTableAndTheOtherTablesGoOn()
    {
        const string table = "apply_dropped";
        ChangeColumn[] columns = [Column("id", "int8", key: true), Column("email", "text"), Column("phone", "text")];
        ChangeColumn[] dropped = [Column("id", "int8", key: true), Column("email", "text")];
        await platform.SendAsync(table, Change("c", table, 0x1_0000_0010, columns, after: new() { ["id"] = "1", ["email"] = "a@example.com", ["phone"] = "555" },
            commitTime: DateTimeOffset.UtcNow.AddMinutes(-2)));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"email":"a@example.com","phone":"555"}"""]);

        // Committed a minute ago: the apply lag of a stopped table grows from its last applied change.
        await platform.SendAsync(table, Change("u", table, 0x1_0000_0020, dropped, after: new() { ["id"] = "1", ["email"] = "b@example.com" }, before: new() { ["id"] = "1" },
            commitTime: DateTimeOffset.UtcNow.AddMinutes(-1)));

        var status = await Eventually.MatchesAsync(platform.StatusAsync, s => Status(s, table) == "stopped", TimeSpan.FromSeconds(45));
        var state = TableStatus(status, table);
        Assert.Equal("stopped", state["status"]!.GetValue<string>());
        Assert.Equal("public.apply_dropped.phone was dropped (or renamed); apply stopped at LSN 1/20; see docs/cdc-apply.md (a stopped table).",
            state["error"]!.GetValue<string>());

        // Later changes are not applied, even one that looks like the recorded columns: the table waits for an operator.
        await platform.SendAsync(table, Change("c", table, 0x1_0000_0030, columns, after: new() { ["id"] = "2", ["email"] = "c@example.com", ["phone"] = "556" }));

        await AssertOtherTablesGoOnAsync();
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"email":"a@example.com","phone":"555"}"""]);

        // Nothing was committed past the stop: both records still wait on the topic.
        var pending = await Eventually.MatchesAsync(platform.StatusAsync, s => TableStatus(s, table)["pendingChanges"]?.GetValue<long>() >= 2, TimeSpan.FromSeconds(30));
        Assert.True(2 == TableStatus(pending, table)["pendingChanges"]!.GetValue<long>(), $"{TableStatus(pending, table)}; {platform.Offsets(table)}");
        Assert.InRange(TableStatus(pending, table)["applyLagSeconds"]!.GetValue<double>(), 100, 600);
    }

    [Fact]
    public async Task ARetypedColumnStopsItsTableEvenAfterARestartAndTheOtherTablesGoOn()
    {
        const string table = "apply_retyped";
        ChangeColumn[] columns = [Column("id", "int8", key: true), Column("age", "int4"), Column("name", "text")];
        ChangeColumn[] retyped = [Column("id", "int8", key: true), Column("age", "text"), Column("name", "text")];
        await platform.SendAsync(table, Change("c", table, 0x2A_0000_0100, columns, after: new() { ["id"] = "1", ["age"] = "30", ["name"] = "Ann" }));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"age":30,"name":"Ann"}"""]);

        // The recorded types are durable: an Ingestor killed and started again still knows age was an int4.
        await platform.App.KillResourceAsync("ingestor");
        await platform.App.StartResourceAsync("ingestor");

        await platform.SendAsync(table,
            Change("u", table, 0x2A_0000_0200, retyped, after: new() { ["id"] = "1", ["age"] = "thirty", ["name"] = "Ann" }, before: new() { ["id"] = "1" }));

        var status = await Eventually.MatchesAsync(platform.StatusAsync, s => Status(s, table) == "stopped", TimeSpan.FromSeconds(60));
        Assert.Equal("public.apply_retyped.age was retyped from int4 to text; apply stopped at LSN 2A/200; see docs/cdc-apply.md (a stopped table).",
            TableStatus(status, table)["error"]!.GetValue<string>());
        await platform.SendAsync(table, Change("c", table, 0x2A_0000_0300, retyped, after: new() { ["id"] = "2", ["age"] = "forty", ["name"] = "Bob" }));

        await AssertOtherTablesGoOnAsync();
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"age":30,"name":"Ann"}"""]);
        var pending = await Eventually.MatchesAsync(platform.StatusAsync, s => TableStatus(s, table)["pendingChanges"]?.GetValue<long>() >= 2, TimeSpan.FromSeconds(30));
        Assert.Equal(2, TableStatus(pending, table)["pendingChanges"]!.GetValue<long>());

        // A modifier-only change (varchar(10) -> varchar(20)) is a retype too; the message shows both.
        var check = new Ingestor.Cdc.Apply.CdcTableSchema(1, [new("id", "int8", -1, true, 0), new("code", "varchar", 14, false, 1)])
            .Check(new CdcTable("public", "t"), [Column("id", "int8", key: true), Column("code", "varchar", typeModifier: 24)], "0/1");
        Assert.Equal("public.t.code was retyped from varchar(10) to varchar(20); apply stopped at LSN 0/1; see docs/cdc-apply.md (a stopped table).", check.StopReason);
    }

    /// <summary>A change to another table, sent after the stop, is applied.</summary>
    private async Task AssertOtherTablesGoOnAsync()
    {
        const string neighbour = "apply_neighbour";
        ChangeColumn[] columns = [Column("id", "text", key: true), Column("n", "int8")];
        var marker = Guid.NewGuid().ToString("N");
        await platform.SendAsync(neighbour, Change("c", neighbour, (ulong)DateTime.UtcNow.Ticks, columns, after: new() { ["id"] = marker, ["n"] = "1" }));
        var rows = await Eventually.MatchesAsync(() => platform.CurrentAsync(neighbour), r => r.Any(row => row.Contains(marker, StringComparison.Ordinal)), TimeSpan.FromSeconds(45));
        Assert.Contains(rows, row => row.Contains(marker, StringComparison.Ordinal));
        Assert.NotEqual("stopped", Status(await platform.StatusAsync(), neighbour));
    }

    private static string Status(JsonObject status, string table) => TableStatus(status, table)["status"]!.GetValue<string>();
}
