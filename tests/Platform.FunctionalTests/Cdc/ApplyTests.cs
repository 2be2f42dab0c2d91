using Ingestor.Cdc;
using static Platform.FunctionalTests.Cdc.ApplyPlatform;

namespace Platform.FunctionalTests.Cdc;

/// <summary>
/// Change records become the latest row per key in cdc_&lt;table&gt;_current: inserts, updates, deletes, replays
/// and older versions, snapshot rows mixed with streamed changes, unchanged TOASTed values; values converted per type.
/// </summary>
[Collection(ApplyCollection.Name)]
public sealed class ApplyTests(ApplyPlatform platform)
{
    private static readonly ChangeColumn[] Users =
    [
        Column("id", "text", key: true), Column("account_id", "int8"), Column("email", "text"), Column("signup_at", "timestamptz"),
        Column("active", "bool"), Column("score", "numeric"), Column("seats", "int4"), Column("born", "date"), Column("tags", "_text"),
    ];

    private static Dictionary<string, string?> User(string id, string email, string? signup = "2026-11-20T08:30:15.123456Z", string active = "t", string? score = "12.50",
        string seats = "3", string? born = "1990-05-17", string? tags = "{a,b}") => new()
    {
        ["id"] = id, ["account_id"] = "42", ["email"] = email, ["signup_at"] = signup, ["active"] = active, ["score"] = score, ["seats"] = seats, ["born"] = born, ["tags"] = tags,
    };

    private static Dictionary<string, string?> Key(string id) => new() { ["id"] = id };

    [Fact]
    public async Task InsertsUpdatesAndDeletesEndAsTheLatestRowPerKeyWithValuesConvertedPerType()
    {
        const string table = "apply_users";
        await platform.SendAsync(table,
            Change("c", table, 100, Users, after: User("u1", "one@example.com")),
            Change("c", table, 110, Users, after: User("u2", "two@example.com", signup: null, active: "f", score: null, born: null, tags: null)),
            Change("c", table, 120, Users, after: User("u3", "three@example.com", score: "-0.25")),
            Change("u", table, 130, Users, after: User("u1", "one.new@example.com", active: "f", seats: "7"), before: Key("u1")),
            Change("d", table, 140, Users, before: Key("u3")));

        await platform.AssertCurrentAsync(table,
        [
            """{"tenant_id":"acme","id":"u1","account_id":42,"email":"one.new@example.com","signup_at":"2026-11-20 08:30:15","active":0,"score":12.5,"seats":7,"born":"1990-05-17","tags":"{a,b}"}""",
            """{"tenant_id":"acme","id":"u2","account_id":42,"email":"two@example.com","signup_at":null,"active":0,"score":null,"seats":3,"born":null,"tags":null}""",
        ]);

        // A deleted key comes back with a later insert.
        await platform.SendAsync(table, Change("c", table, 150, Users, after: User("u3", "back@example.com")));
        await platform.AssertCurrentAsync(table,
        [
            """{"tenant_id":"acme","id":"u1","account_id":42,"email":"one.new@example.com","signup_at":"2026-11-20 08:30:15","active":0,"score":12.5,"seats":7,"born":"1990-05-17","tags":"{a,b}"}""",
            """{"tenant_id":"acme","id":"u2","account_id":42,"email":"two@example.com","signup_at":null,"active":0,"score":null,"seats":3,"born":null,"tags":null}""",
            """{"tenant_id":"acme","id":"u3","account_id":42,"email":"back@example.com","signup_at":"2026-11-20 08:30:15","active":1,"score":12.5,"seats":3,"born":"1990-05-17","tags":"{a,b}"}""",
        ]);

        // The table itself keeps the bridge's columns: version, delete flag, op, LSN, commit time, transaction.
        var u3 = await platform.ClickHouse.QueryScalarAsync(
            "SELECT _version, is_deleted, _op, _lsn, _commit_time, _tx_id FROM cdc_apply_users WHERE id = 'u3' ORDER BY _version");
        Assert.Equal("120\t0\tc\t0/78\t2026-11-22 10:02:00\t120\n140\t1\td\t0/8C\t2026-11-22 10:02:20\t140\n150\t0\tc\t0/96\t2026-11-22 10:02:30\t150", u3);
        var types = await platform.ClickHouse.QueryScalarAsync(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'cdc_apply_users'");
        Assert.Equal(
            "tenant_id\tString\nid\tString\naccount_id\tNullable(Int64)\nemail\tNullable(String)\nsignup_at\tNullable(DateTime(\\'UTC\\'))\nactive\tNullable(UInt8)\n" +
            "score\tNullable(Float64)\nseats\tNullable(Int32)\nborn\tNullable(Date)\ntags\tNullable(String)\n_version\tUInt64\nis_deleted\tUInt8\n_op\tString\n_lsn\tString\n" +
            "_commit_time\tDateTime(\\'UTC\\')\n_tx_id\tUInt64\n_applied_at\tDateTime(\\'UTC\\')", types);

        var status = TableStatus(await platform.StatusAsync(), table);
        Assert.Equal(6, status["appliedChanges"]!.GetValue<long>());
        Assert.Equal("0/96", status["appliedLsn"]!.GetValue<string>());
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 10, 2, 30, TimeSpan.Zero), status["lastAppliedCommitTime"]!.GetValue<DateTimeOffset>());
        // The capture side refuses the table (it is not in PostgreSQL: these tests play capture themselves); apply did not stop it.
        Assert.NotEqual("stopped", status["status"]!.GetValue<string>());
        Assert.DoesNotContain("apply stopped", (string?)status["error"] ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReplaysAndOlderVersionsLeaveTheLatestVersion()
    {
        const string table = "apply_replay";
        var columns = new[] { Column("id", "int8", key: true), Column("plan", "text") };
        Dictionary<string, string?> Row(string id, string plan) => new() { ["id"] = id, ["plan"] = plan };
        var insert = Change("c", table, 1000, columns, after: Row("1", "free"));
        var upgrade = Change("u", table, 3000, columns, after: Row("1", "team"), before: new() { ["id"] = "1" });
        await platform.SendAsync(table, insert, upgrade, Change("c", table, 1500, columns, after: Row("2", "free")));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"plan":"team"}""", """{"tenant_id":"acme","id":2,"plan":"free"}"""]);

        // The same envelopes again (a redelivery), and an older update arriving late: nothing moves back.
        await platform.SendAsync(table, insert, upgrade, Change("u", table, 2000, columns, after: Row("1", "business"), before: new() { ["id"] = "1" }),
            Change("d", table, 1200, columns, before: new() { ["id"] = "2" }));
        await platform.SendAsync(table, Change("c", table, 4000, columns, after: Row("3", "enterprise"))); // a marker: applied after the replays
        await platform.AssertCurrentAsync(table,
            ["""{"tenant_id":"acme","id":1,"plan":"team"}""", """{"tenant_id":"acme","id":2,"plan":"free"}""", """{"tenant_id":"acme","id":3,"plan":"enterprise"}"""]);
        await platform.ClickHouse.ExecuteAsync("OPTIMIZE TABLE cdc_apply_replay FINAL");
        await platform.AssertCurrentAsync(table,
            ["""{"tenant_id":"acme","id":1,"plan":"team"}""", """{"tenant_id":"acme","id":2,"plan":"free"}""", """{"tenant_id":"acme","id":3,"plan":"enterprise"}"""]);
    }

    [Fact]
    public async Task SnapshotRowsMixWithStreamedChangesByVersion()
    {
        const string table = "apply_snapshot";
        var columns = new[] { Column("id", "int8", key: true), Column("name", "text"), Column("seats", "int4") };
        Dictionary<string, string?> Row(string id, string name, string seats) => new() { ["id"] = id, ["name"] = name, ["seats"] = seats };
        const ulong snapshotPoint = 5000;

        // Streamed changes from before the snapshot's consistent point (older versions) lose to the snapshot's rows;
        // those after it win, whichever arrives first.
        await platform.SendAsync(table,
            Change("u", table, 4900, columns, after: Row("1", "old name", "1"), before: new() { ["id"] = "1" }),
            Change("r", table, snapshotPoint, columns, after: Row("1", "Acme", "5")),
            Change("r", table, snapshotPoint, columns, after: Row("2", "Globex", "10")),
            Change("u", table, 5200, columns, after: Row("3", "Initech (renamed)", "4"), before: new() { ["id"] = "3" }),
            Change("r", table, snapshotPoint, columns, after: Row("3", "Initech", "3")),
            Change("r", table, snapshotPoint, columns, after: Row("4", "Umbrella", "8")),
            Change("d", table, 5100, columns, before: new() { ["id"] = "4" }),
            Change("c", table, 5300, columns, after: Row("5", "Hooli", "2")),
            Change("u", table, 5400, columns, after: Row("2", "Globex", "12"), before: new() { ["id"] = "2" }));

        await platform.AssertCurrentAsync(table,
        [
            """{"tenant_id":"acme","id":1,"name":"Acme","seats":5}""",
            """{"tenant_id":"acme","id":2,"name":"Globex","seats":12}""",
            """{"tenant_id":"acme","id":3,"name":"Initech (renamed)","seats":4}""",
            """{"tenant_id":"acme","id":5,"name":"Hooli","seats":2}""",
        ]);
    }

    [Fact]
    public async Task AnUpdateWithoutAColumnKeepsItsStoredValue()
    {
        const string table = "apply_toast";
        var columns = new[] { Column("id", "int8", key: true), Column("status", "text"), Column("document", "jsonb") };
        var big = "{\"body\": \"" + new string('x', 5000) + "\"}";
        await platform.SendAsync(table,
            Change("c", table, 10, columns, after: new() { ["id"] = "1", ["status"] = "draft", ["document"] = big }),
            Change("c", table, 11, columns, after: new() { ["id"] = "2", ["status"] = "draft", ["document"] = "{\"small\": true}" }));
        await platform.AssertCurrentAsync(table, [Row("1", "draft", big), Row("2", "draft", "{\"small\": true}")]);

        // Stored in ClickHouse already: the value is read back from there. In the same batch as the insert: from the batch.
        await platform.SendAsync(table,
            Change("u", table, 20, columns, after: new() { ["id"] = "1", ["status"] = "published" }, before: new() { ["id"] = "1" }),
            Change("c", table, 21, columns, after: new() { ["id"] = "3", ["status"] = "draft", ["document"] = "{\"third\": 3}" }),
            Change("u", table, 22, columns, after: new() { ["id"] = "3", ["status"] = "published" }, before: new() { ["id"] = "3" }),
            Change("u", table, 23, columns, after: new() { ["id"] = "1", ["status"] = "archived" }, before: new() { ["id"] = "1" }));
        await platform.AssertCurrentAsync(table, [Row("1", "archived", big), Row("2", "draft", "{\"small\": true}"), Row("3", "published", "{\"third\": 3}")]);

        static string Row(string id, string status, string document) =>
            new System.Text.Json.Nodes.JsonObject { ["tenant_id"] = "acme", ["id"] = long.Parse(id, System.Globalization.CultureInfo.InvariantCulture), ["status"] = status, ["document"] = document }.ToJsonString();
    }

    [Fact]
    public async Task ATruncateHidesEveryRowVersionedBeforeItWheneverThatRowArrives()
    {
        const string table = "apply_truncated";
        var columns = new[] { Column("id", "int8", key: true), Column("plan", "text") };
        Dictionary<string, string?> Row(string id, string plan) => new() { ["id"] = id, ["plan"] = plan };
        await platform.SendAsync(table, Change("c", table, 100, columns, after: Row("1", "free")), Change("c", table, 110, columns, after: Row("2", "team")));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"plan":"free"}""", """{"tenant_id":"acme","id":2,"plan":"team"}"""]);

        // The truncate at 150, a row written after it, and one written before it that arrives late (its key's partition was behind).
        await platform.SendAsync(table,
            Change("t", table, 150, columns),
            Change("c", table, 160, columns, after: Row("3", "business")),
            Change("u", table, 120, columns, after: Row("2", "enterprise"), before: new() { ["id"] = "2" }));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":3,"plan":"business"}"""]);

        // Redelivered, the truncate changes nothing more; a key written again after it comes back. The rows stay in the table.
        await platform.SendAsync(table, Change("t", table, 150, columns), Change("c", table, 170, columns, after: Row("1", "team")));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"plan":"team"}""", """{"tenant_id":"acme","id":3,"plan":"business"}"""]);
        Assert.Equal("150\t0/96\tcdc_apply_truncated", await platform.ClickHouse.QueryScalarAsync(
            "SELECT max(_version), any(_lsn), any(table_name) FROM cdc_truncations WHERE table_name = 'cdc_apply_truncated'"));
    }

    [Fact]
    public async Task AViewFromBeforeTruncationsWereReplicatedIsBroughtUpToDateByTheFirstTruncate()
    {
        const string table = "apply_upgraded";
        var columns = new[] { Column("id", "int8", key: true), Column("plan", "text") };
        await platform.SendAsync(table, Change("c", table, 100, columns, after: new() { ["id"] = "1", ["plan"] = "free" }));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"plan":"free"}"""]);

        // The view as an earlier release created it.
        await platform.ClickHouse.ExecuteAsync("DROP TABLE cdc_apply_upgraded_current");
        await platform.ClickHouse.ExecuteAsync("CREATE VIEW cdc_apply_upgraded_current AS SELECT tenant_id, id, plan FROM cdc_apply_upgraded FINAL WHERE is_deleted = 0");

        await platform.SendAsync(table, Change("t", table, 200, columns), Change("c", table, 210, columns, after: new() { ["id"] = "2", ["plan"] = "team" }));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":2,"plan":"team"}"""]);
    }
}
