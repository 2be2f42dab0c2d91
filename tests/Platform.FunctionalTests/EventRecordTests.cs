using System.Net;
using System.Text;
using System.Text.Json;
using Platform.Events;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>A request's events travel as a few records of the events topic (one per user slot), and the Ingestor reads such a record event by event.</summary>
[Collection(PlatformCollection.Name)]
public class EventRecordTests(PlatformFixture platform)
{
    [Fact]
    public async Task ARequestsEventsTravelInAtMostOneRecordPerUserSlotWithEachUsersEventsInOneRecordInOrder()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        var sent = Enumerable.Range(0, 300).Select(i => (User: $"u{i % 40}", Id: $"ev-{i:D3}")).ToList();
        using var response = await collector.PostAsync("/v1/events", Http.Json($"[{string.Join(",", sent.Select(e => Http.Event("clicked", e.User, e.Id)))}]"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        var records = await platform.Probe.EventRecordsAsync(tenant.Id, 1);
        // The Collector's default Collector:UserSlots.
        Assert.InRange(records.Count, 2, 16);
        var events = records.Select(r => JsonSerializer.Deserialize(r.Value, EventJsonContext.Default.ListCollectedEvent)!).ToList();
        Assert.Equal(sent.Select(e => e.Id).Order(), events.SelectMany(e => e).Select(e => e.EventId).Order());
        foreach (var user in sent.Select(e => e.User).Distinct())
        {
            var holding = events.Where(record => record.Any(e => e.UserId == user)).ToList();
            var only = Assert.Single(holding);
            Assert.Equal(sent.Where(e => e.User == user).Select(e => e.Id), only.Where(e => e.UserId == user).Select(e => e.EventId));
        }

        await platform.Probe.RowsUntilAsync(tenant.Id, sent.Count);
    }

    [Fact]
    public async Task OneUsersEventsPastTheRecordByteBoundSplitIntoSeveralRecordsInOrder()
    {
        var tenant = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(tenant.WriteKey);
        // 60 events of ~6 KB for one user: ~360 KB, past the default 128 KB bound of one record (Collector:MaxRecordBytes).
        var padding = new string('p', 6000);
        var ids = Enumerable.Range(0, 60).Select(i => $"big-{i:D2}").ToList();
        var body = string.Join(",", ids.Select(id => $$$"""{"event": "uploaded", "user_id": "one-user", "event_id": "{{{id}}}", "properties": {"blob": "{{{padding}}}"}}"""));
        using var response = await collector.PostAsync("/v1/events", Http.Json($"[{body}]"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        var records = await platform.Probe.EventRecordsAsync(tenant.Id, 3);
        Assert.InRange(records.Count, 3, 4);
        Assert.All(records, r => Assert.InRange(r.Value.Length, 1, 128 * 1024 + 8 * 1024));
        Assert.Single(records.Select(r => Encoding.UTF8.GetString(r.Key)).Distinct());
        // One key, one partition: read in offset order, the order they were written in.
        var read = records.SelectMany(r => JsonSerializer.Deserialize(r.Value, EventJsonContext.Default.ListCollectedEvent)!).Select(e => e.EventId);
        Assert.Equal(ids, read);
        await platform.Probe.RowsUntilAsync(tenant.Id, ids.Count);
    }

    [Fact]
    public async Task AnArrayRecordIsReadEventByEventItsPoisonEventDeadLetteredAloneAndACopyInsideItFolded()
    {
        var tenant = await platform.CreateTenantAsync();
        var now = DateTimeOffset.UtcNow;
        CollectedEvent Event(string id, DateTimeOffset at) => EventsTopicWriter.Event(tenant.Id, id, at);
        var good = EventsTopicWriter.Json(Event("good", now.AddMinutes(-1)));
        var farFuture = EventsTopicWriter.Json(Event("far-future", new DateTimeOffset(2200, 1, 1, 0, 0, 0, TimeSpan.Zero)));

        using var writer = new EventsTopicWriter(platform);
        var delivered = await writer.WriteAsync(tenant.Id + ":0", $"[{good}, {farFuture}, {good}, {EventsTopicWriter.Json(Event("also-good", now.AddMinutes(-2)))}]");

        var rows = await platform.Probe.RowsUntilAsync(tenant.Id, 2);
        Assert.Equal(["also-good", "good"], rows.Select(r => (string)r["event_id"]!).Order());
        var deadLetter = Assert.Single(await platform.Probe.DeadLettersAsync(tenant.Id, 1));
        Assert.Equal("timestamp", deadLetter.Field);
        Assert.Equal($"{EventTopics.Events}/{delivered.Partition.Value}/{delivered.Offset.Value}#1", deadLetter.Source);
        // The event alone, not its neighbours.
        Assert.Equal("far-future", JsonSerializer.Deserialize(deadLetter.Value, EventJsonContext.Default.CollectedEvent)!.EventId);
    }
}
