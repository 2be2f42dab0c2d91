using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Platform.Events;
using Platform.Kafka;
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
        CollectedEvent Event(string id, DateTimeOffset at) => new()
        {
            TenantId = tenant.Id, EventId = id, Event = "produced", UserId = "u1", Timestamp = at, ReceivedAt = now,
        };
        byte[] Json(CollectedEvent e) => JsonSerializer.SerializeToUtf8Bytes(e, EventJsonContext.Default.CollectedEvent);

        using var producer = new ProducerBuilder<byte[], byte[]>(KafkaConfig.Producer(KafkaConfig.Bootstrap(platform.App["kafka"].ConnectionString!), "tests"))
            .SetLogHandler((_, _) => { }).Build();
        var records = new[]
        {
            Json(Event("before", now.AddMinutes(-1))),
            Json(Event("far-future", new DateTimeOffset(2200, 1, 1, 0, 0, 0, TimeSpan.Zero))),
            Encoding.UTF8.GetBytes($$"""{"tenant_id": "{{tenant.Id}}", "event_id": "broken", "timestamp": "not a time"}"""),
            Json(Event("after", now.AddMinutes(-1))),
        };
        foreach (var value in records)
        {
            // One key, so one partition: the good records sit on both sides of the poison ones.
            await producer.ProduceAsync(EventTopics.Events, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(tenant.Id + ":u1"), Value = value });
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
}
