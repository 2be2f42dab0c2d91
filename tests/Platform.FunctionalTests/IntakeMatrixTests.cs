using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>
/// The bad-input matrix of every intake endpoint. Each case sends a bad event, mostly beside a good
/// one, and checks the whole answer: the status, the problem or per-event error, that the good
/// neighbour was stored, and that the bad one was kept in the dead-letter topic with its reason.
/// </summary>
[Collection(PlatformCollection.Name)]
public class IntakeMatrixTests(PlatformFixture platform)
{
    private const string Ok = "{ok}";
    private const string Now = "2026-06-01T12:00:00Z";

    /// <param name="Body">The body; <c>{ok}</c> stands for a good event (index 0 when first), <c>{key}</c> for the write key.</param>
    /// <param name="Field">The refused event's error field (per-event refusals), or null for a refusal of the whole request.</param>
    public sealed record Case(string Path, string Body, int Status, string Title, string? Field, int DeadLetters,
        string ContentType = "application/json", string? ContentEncoding = null, bool Anonymous = false, bool Segment = false);

    private static string Ev(string fields) => "{\"event\": \"bad\", \"user_id\": \"u1\", " + fields + "}";

    private static string Pair(string bad) => $"[{Ok}, {bad}]";

    private static Case Refused(string bad, string field) => new("/v1/events", Pair(bad), 202, "", field, 1);

    private static Case SegmentRefused(string bad, string field) =>
        new("/v1/batch", "{\"batch\": [" + Ok + ", " + bad + "]}", 200, "", field, 1, Segment: true);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // Our events endpoint: one refused event beside a good one.
        ["event missing"] = Refused("{\"user_id\": \"u1\"}", "event"),
        ["event is a number"] = Refused("{\"event\": 5, \"user_id\": \"u1\"}", "event"),
        ["event is empty"] = Refused("{\"event\": \"\", \"user_id\": \"u1\"}", "event"),
        ["event name with a quote"] = Refused("{\"event\": \"x'y\", \"user_id\": \"u1\"}", "event"),
        ["event name with SQL"] = Refused("{\"event\": \"a'); DROP TABLE raw_events; --\", \"user_id\": \"u1\"}", "event"),
        ["event name too long"] = Refused("{\"event\": \"" + new string('e', 129) + "\", \"user_id\": \"u1\"}", "event"),
        ["no user or anonymous id"] = Refused("{\"event\": \"bad\"}", "user_id"),
        ["user_id is a number"] = Refused("{\"event\": \"bad\", \"user_id\": 7}", "user_id"),
        ["user_id too long"] = Refused("{\"event\": \"bad\", \"user_id\": \"" + new string('u', 257) + "\"}", "user_id"),
        ["anonymous_id is an object"] = Refused("{\"event\": \"bad\", \"anonymous_id\": {}}", "anonymous_id"),
        ["event_id is a number"] = Refused(Ev("\"event_id\": 12"), "event_id"),
        ["event_id too long"] = Refused(Ev("\"event_id\": \"" + new string('i', 129) + "\""), "event_id"),
        ["session_id is an array"] = Refused(Ev("\"session_id\": [1]"), "session_id"),
        ["timestamp without offset"] = Refused(Ev("\"timestamp\": \"2026-06-01T12:00:00\""), "timestamp"),
        ["timestamp is a number"] = Refused(Ev("\"timestamp\": 1700000000"), "timestamp"),
        ["timestamp is not a date"] = Refused(Ev("\"timestamp\": \"yesterday\""), "timestamp"),
        ["timestamp before 2000"] = Refused(Ev("\"timestamp\": \"1990-01-01T00:00:00Z\""), "timestamp"),
        ["timestamp two days ahead"] = Refused(Ev($"\"timestamp\": \"{DateTimeOffset.UtcNow.AddDays(2):O}\""), "timestamp"),
        ["sent_at is not a date"] = Refused(Ev("\"sent_at\": \"soon\""), "sent_at"),
        ["skew correction lands in the future"] = Refused(Ev("\"timestamp\": \"2026-06-05T00:00:00Z\", \"sent_at\": \"2026-06-01T00:00:00Z\""), "timestamp"),
        ["properties is an array"] = Refused(Ev("\"properties\": [1]"), "properties"),
        ["properties is a string"] = Refused(Ev("\"properties\": \"x\""), "properties"),
        ["nested property object"] = Refused(Ev("\"properties\": {\"address\": {\"city\": \"Bonn\"}}"), "properties.address"),
        ["nested property array"] = Refused(Ev("\"properties\": {\"tags\": [\"a\"]}"), "properties.tags"),
        ["too many properties"] = Refused(Ev("\"properties\": {" + string.Join(",", Enumerable.Range(0, 257).Select(i => $"\"p{i}\": {i}")) + "}"), "properties"),
        ["property key too long"] = Refused(Ev("\"properties\": {\"" + new string('k', 129) + "\": 1}"), "properties." + new string('k', 40) + "…"),
        ["empty property key"] = Refused(Ev("\"properties\": {\"\": 1}"), "properties"),
        ["context is a string"] = Refused(Ev("\"context\": \"ios\""), "context"),
        ["country is not a code"] = Refused(Ev("\"context\": {\"country\": \"Germany\"}"), "context.country"),
        ["context.os is a number"] = Refused(Ev("\"context\": {\"os\": 17}"), "context.os"),
        ["event_version is an object"] = Refused(Ev("\"event_version\": {}"), "event_version"),
        ["event over 32 KB"] = Refused(Ev("\"properties\": {\"blob\": \"" + new string('b', 33 * 1024) + "\"}"), ""),
        ["event is a string"] = Refused("\"click\"", ""),
        ["event is null"] = Refused("null", ""),

        // Our events endpoint: the request as a whole.
        ["only bad events"] = new("/v1/events", "[{\"event\": 1}, {\"user_id\": \"u\"}]", 400, "No valid events", null, 2),
        ["malformed JSON"] = new("/v1/events", "[{\"event\": ", 400, "Malformed JSON", null, 1),
        ["a JSON string body"] = new("/v1/events", "\"event\"", 400, "Unexpected body", null, 1),
        ["batch is not an array"] = new("/v1/events", "{\"batch\": {}}", 400, "Unexpected body", null, 1),
        ["empty array"] = new("/v1/events", "[]", 400, "No events", null, 0),
        ["too many events"] = new("/v1/events", "[" + string.Join(",", Enumerable.Repeat("{}", 2001)) + "]", 413, "Too many events", null, 0),
        ["body over 500 KB"] = new("/v1/events", "[" + string.Join(",", Enumerable.Repeat(Ev("\"session_id\": \"" + new string('s', 200) + "\""), 2500)) + "]", 413, "Request too large", null, 0),
        ["form content type"] = new("/v1/events", "event=x", 415, "Unsupported content type", null, 0, ContentType: "application/x-www-form-urlencoded"),
        ["gzip header on a plain body"] = new("/v1/events", Pair(Ev("")), 400, "Malformed gzip body", null, 0, ContentEncoding: "gzip"),
        ["brotli body"] = new("/v1/events", Pair(Ev("")), 415, "Unsupported content encoding", null, 0, ContentEncoding: "br"),

        // Segment's endpoints.
        ["segment: unknown call type"] = SegmentRefused("{\"type\": \"purchase\", \"userId\": \"u1\"}", "type"),
        ["segment: call without type"] = SegmentRefused("{\"userId\": \"u1\", \"event\": \"x\"}", "type"),
        ["segment: track without event"] = SegmentRefused("{\"type\": \"track\", \"userId\": \"u1\"}", "event"),
        ["segment: event with a control character"] = SegmentRefused("{\"type\": \"track\", \"userId\": \"u1\", \"event\": \"a\\u0007b\"}", "event"),
        ["segment: userId is an object"] = SegmentRefused("{\"type\": \"track\", \"userId\": {}, \"event\": \"x\"}", "userId"),
        ["segment: no userId or anonymousId"] = SegmentRefused("{\"type\": \"track\", \"event\": \"x\"}", "userId"),
        ["segment: group without groupId"] = SegmentRefused("{\"type\": \"group\", \"userId\": \"u1\"}", "groupId"),
        ["segment: alias without previousId"] = SegmentRefused("{\"type\": \"alias\", \"userId\": \"u1\"}", "previousId"),
        ["segment: bad originalTimestamp"] = SegmentRefused("{\"type\": \"track\", \"userId\": \"u1\", \"event\": \"x\", \"originalTimestamp\": \"12:00\"}", "originalTimestamp"),
        ["segment: traits is an array"] = new("/v1/identify", "{\"userId\": \"u1\", \"traits\": [1]}", 400, "No valid events", null, 1, Segment: true),
        ["segment: batch is not an array"] = new("/v1/batch", "{\"batch\": 1}", 400, "Unexpected body", null, 1, Segment: true),
        ["segment: track body is an array"] = new("/v1/track", "[]", 400, "Unexpected body", null, 1, Segment: true),
        ["segment: unknown writeKey in the body"] = new("/v1/track", "{\"writeKey\": \"wk_nope\", \"userId\": \"u1\", \"event\": \"x\"}", 401, "Unknown write key", null, 0, Anonymous: true, Segment: true),
        ["segment: no key at all"] = new("/v1/track", "{\"userId\": \"u1\", \"event\": \"x\"}", 401, "Unknown write key", null, 0, Anonymous: true, Segment: true),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Fact]
    public void TheMatrixCoversAtLeastFortyCases() => Assert.True(Cases.Count >= 40, $"{Cases.Count} cases");

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task EachBadInputGetsItsPreciseAnswerAndNothingIsLost(string name)
    {
        var c = Cases[name];
        var tenant = await platform.CreateTenantAsync();
        var goodId = "good-" + Guid.NewGuid().ToString("N");
        var good = c.Segment
            ? $"{{\"type\": \"track\", \"event\": \"good\", \"userId\": \"u0\", \"messageId\": \"{goodId}\", \"timestamp\": \"{Now}\"}}"
            : $"{{\"event\": \"good\", \"user_id\": \"u0\", \"event_id\": \"{goodId}\", \"timestamp\": \"{Now}\"}}";
        using var client = c.Anonymous ? platform.CreateHttpClient("collector") : platform.CreateCollectorClient(tenant.WriteKey);
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(c.Body.Replace(Ok, good).Replace("{key}", tenant.WriteKey)));
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(c.ContentType);
        if (c.ContentEncoding is not null)
        {
            content.Headers.ContentEncoding.Add(c.ContentEncoding);
        }

        using var response = await client.PostAsync(c.Path, content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(c.Status == (int)response.StatusCode, $"{name}: expected {c.Status}, got {(int)response.StatusCode}: {body}");
        var answer = JsonNode.Parse(body)!.AsObject();

        if (c.Field is not null)
        {
            // Refused beside a good event: the good one is accepted and stored, the bad one named.
            Assert.Equal(1, (int)answer["accepted"]!);
            Assert.Equal(1, (int)answer["rejected"]!);
            var error = answer["errors"]!.AsArray().Single()!;
            Assert.Equal(1, (int)error["index"]!);
            Assert.Equal(c.Field, (string)error["field"]!);
            Assert.False(string.IsNullOrWhiteSpace((string?)error["reason"]), body);
            var rows = await platform.Probe.RowsUntilAsync(tenant.Id, 1);
            Assert.Equal(goodId, (string)rows.Single()["event_id"]!);
        }
        else
        {
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(c.Title, (string)answer["title"]!);
            Assert.Equal(c.Status, (int)answer["status"]!);
            Assert.False(string.IsNullOrWhiteSpace((string?)answer["detail"]), body);
        }

        var deadLetters = await platform.Probe.DeadLettersAsync(tenant.Id, c.DeadLetters);
        Assert.Equal(c.DeadLetters, deadLetters.Count);
        Assert.All(deadLetters, d => Assert.False(string.IsNullOrWhiteSpace(d.Reason)));
        if (c.Field is not null)
        {
            Assert.Equal(c.Field, deadLetters.Single().Field);
            Assert.DoesNotContain(goodId, deadLetters.Single().Value);
        }

        if (c.Status >= 400)
        {
            Assert.Empty(await platform.Probe.RowsAsync(tenant.Id));
        }
    }
}
