using Platform.ClickHouse;
using Platform.Events;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>Records on the events topic that the Ingestor cannot store go to the dead-letter topic and stall nothing.</summary>
[Collection(PlatformCollection.Name)]
public class PoisonRecordTests(PlatformFixture platform)
{
    [Fact]
    public async Task PoisonRecordsAreDeadLetteredWithTheirReasonAndTheirNeighboursAreStored()
    {
        var tenant = await platform.CreateTenantAsync();
        var now = DateTimeOffset.UtcNow;
        string Json(string id, DateTimeOffset at) => EventsTopicWriter.Json(EventsTopicWriter.Event(tenant.Id, id, at));

        using var writer = new EventsTopicWriter(platform);
        var records = new[]
        {
            Json("before", now.AddMinutes(-1)),
            Json("far-future", new DateTimeOffset(2200, 1, 1, 0, 0, 0, TimeSpan.Zero)),
            $$"""{"tenant_id": "{{tenant.Id}}", "event_id": "broken", "timestamp": "not a time"}""",
            Json("after", now.AddMinutes(-1)),
        };
        foreach (var value in records)
        {
            // One key, so one partition: the good records sit on both sides of the poison ones.
            await writer.WriteAsync(tenant.Id + ":u1", value);
        }

        var rows = await platform.Probe.RowsUntilAsync(tenant.Id, 2);
        Assert.Equal(["after", "before"], rows.Select(r => (string)r["event_id"]!).Order());
        var deadLetters = await platform.Probe.DeadLettersAsync(tenant.Id, 1);
        var future = Assert.Single(deadLetters);
        Assert.Equal("timestamp", future.Field);
        Assert.Contains("1970-2105", future.Reason);
        Assert.StartsWith(EventTopics.Events + "/", future.Source);
        Assert.Contains("far-future", future.Value);
    }

    [Fact]
    public async Task ARowClickHouseRefusesIsIsolatedFromItsBatchAndDeadLetteredWithTheServersReasonAndIntakeGoesOn()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        using var api = platform.CreateApiClient(tenant.ReadKey);
        var clickHouse = platform.Probe.ClickHouse;
        // A table rule that refuses one row of this tenant on purpose: the Collector and the Ingestor accept it, ClickHouse does not.
        await clickHouse.ExecuteAsync(
            $"ALTER TABLE raw_events ADD COLUMN refuse_drill UInt8 MATERIALIZED throwIf(tenant_id = {ClickHouseSql.Literal(tenant.Id)} AND event_name = 'refused')");
        try
        {
            var batch = Enumerable.Range(0, 40).Select(i => Http.Event(i == 17 ? "refused" : "kept", $"u{i}", $"ev-{i}"));
            using var response = await collector.PostAsync("/v1/events", Http.Json($"[{string.Join(",", batch)}]"));
            Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);

            var deadLetter = Assert.Single(await platform.Probe.DeadLettersAsync(tenant.Id, 1));
            Assert.StartsWith("ClickHouse refused the row: ClickHouse error 395", deadLetter.Reason);
            Assert.Contains("ev-17", deadLetter.Value);
            var counted = await Eventually.MatchesAsync(() => api.CountAsync(), r => (long)r["total"]! >= 39);
            Assert.Equal(39, (long)counted["total"]!);

            // Not stalled: what comes next is stored too.
            using var next = await collector.PostAsync("/v1/events", Http.Json(Http.Event("kept", "u-next", "ev-next")));
            Assert.Equal(System.Net.HttpStatusCode.Accepted, next.StatusCode);
            await Eventually.MatchesAsync(() => api.CountAsync(), r => (long)r["total"]! == 40);

            var health = await api.GetObjectAsync("/v1/pipeline/health");
            Assert.True((long)health["platform"]!["consumerLag"]!["counters"]!["refusedByClickHouse"]! >= 1, health.ToJsonString());
        }
        finally
        {
            await clickHouse.ExecuteAsync("ALTER TABLE raw_events DROP COLUMN refuse_drill");
        }
    }
}
