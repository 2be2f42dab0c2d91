using AppHost.Infrastructure;
using Ingestor.Cdc;
using Platform.Testing;
using static Platform.FunctionalTests.Cdc.ApplyPlatform;

namespace Platform.FunctionalTests.Cdc;

/// <summary>While ClickHouse is down, changes wait in Kafka (uncommitted); once it is back they are applied, none lost or skipped.</summary>
[Collection(ApplyCollection.Name)]
public sealed class ApplyOutageTests(ApplyPlatform platform)
{
    [Fact]
    public async Task ChangesSentWhileClickHouseIsDownAreAppliedOnceItIsBack()
    {
        const string table = "apply_outage";
        ChangeColumn[] columns = [Column("id", "int8", key: true), Column("plan", "text")];
        await platform.SendAsync(table, Change("c", table, 10, columns, after: new() { ["id"] = "1", ["plan"] = "free" }));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"plan":"free"}"""]);

        await platform.App.StopResourceAsync("clickhouse");
        try
        {
            await platform.SendAsync(table,
                Change("u", table, 20, columns, after: new() { ["id"] = "1", ["plan"] = "team" }, before: new() { ["id"] = "1" }),
                Change("c", table, 30, columns, after: new() { ["id"] = "2", ["plan"] = "free" }),
                Change("c", table, 40, columns, after: new() { ["id"] = "3", ["plan"] = "business" }),
                Change("d", table, 50, columns, before: new() { ["id"] = "2" }));

            // Not applied, so not committed: the status shows them waiting.
            var waiting = await Eventually.MatchesAsync(platform.StatusAsync, s => TableStatus(s, table)["pendingChanges"]?.GetValue<long>() == 4, TimeSpan.FromSeconds(30));
            Assert.Equal(4, TableStatus(waiting, table)["pendingChanges"]!.GetValue<long>());
            await Task.Delay(TimeSpan.FromSeconds(3)); // a few failed attempts, with backoff
        }
        finally
        {
            await platform.App.StartResourceAsync("clickhouse");
        }

        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"plan":"team"}""", """{"tenant_id":"acme","id":3,"plan":"business"}"""], timeout: TimeSpan.FromSeconds(90));
        var done = await Eventually.MatchesAsync(platform.StatusAsync, s => TableStatus(s, table)["pendingChanges"]?.GetValue<long>() == 0, TimeSpan.FromSeconds(30));
        Assert.Equal(0, TableStatus(done, table)["pendingChanges"]!.GetValue<long>());
        Assert.NotEqual("stopped", TableStatus(done, table)["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task ChangesWhoseOffsetCommitFailedAreCommittedWithoutWaitingForMoreChanges()
    {
        const string table = "apply_commit";
        ChangeColumn[] columns = [Column("id", "int8", key: true), Column("plan", "text")];
        await platform.SendAsync(table, Change("c", table, 10, columns, after: new() { ["id"] = "1", ["plan"] = "free" }));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"plan":"free"}"""]);

        // The broker refuses the next three offset commits: the change is applied, its offset owed.
        platform.App.Resource<KafkaDevBrokerResource>("kafka").FailOffsetCommits(3);
        await platform.SendAsync(table, Change("u", table, 20, columns, after: new() { ["id"] = "1", ["plan"] = "team" }, before: new() { ["id"] = "1" }));
        await platform.AssertCurrentAsync(table, ["""{"tenant_id":"acme","id":1,"plan":"team"}"""]);

        // Nothing else arrives on the table, yet its offset is committed again until the broker takes it.
        var log = await Eventually.MatchesAsync(() => Task.FromResult(platform.LogOf("ingestor")), l => l.Contains("whose earlier commit failed", StringComparison.Ordinal));
        Assert.Contains("Applied 1 CDC records of public.apply_commit but could not commit their offsets, retrying", log);
        Assert.Contains("whose earlier commit failed", log);
        var done = await Eventually.MatchesAsync(platform.StatusAsync, s => TableStatus(s, table)["pendingChanges"]?.GetValue<long>() == 0, TimeSpan.FromSeconds(30));
        Assert.Equal(0, TableStatus(done, table)["pendingChanges"]!.GetValue<long>());
    }
}
