using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Platform.FunctionalTests.Alerts;

/// <summary>One webhook request as the receiver got it.</summary>
internal sealed record ReceivedWebhook(DateTimeOffset At, string Body, string? Signature, string? Delivery, string? Event)
{
    public JsonObject Json => JsonNode.Parse(Body)!.AsObject();

    /// <summary>Whether the signature header is the HMAC-SHA256 of the exact body with this secret.</summary>
    public bool SignedWith(string secret) =>
        Signature == "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(Body)));
}

/// <summary>
/// A webhook receiver on loopback: records every request and answers with the next scripted status (then 200),
/// optionally after a delay, as a slow or failing receiver would.
/// </summary>
internal sealed class WebhookReceiver : LoopbackReceiver
{
    private readonly ConcurrentQueue<ReceivedWebhook> _received = new();
    private readonly ConcurrentQueue<HttpStatusCode> _answers;

    public WebhookReceiver(IEnumerable<HttpStatusCode>? answers = null, TimeSpan? delay = null)
    {
        _answers = new ConcurrentQueue<HttpStatusCode>(answers ?? []);
        Delay = delay ?? TimeSpan.Zero;
    }

    public TimeSpan Delay { get; }

    public string Url => $"http://127.0.0.1:{Port}/hook";

    public IReadOnlyList<ReceivedWebhook> Received => [.. _received];

    /// <summary>Waits until <paramref name="count"/> requests arrived (at most <paramref name="timeout"/>) and returns all of them.</summary>
    public async Task<IReadOnlyList<ReceivedWebhook>> WaitForAsync(int count, TimeSpan timeout, Func<ReceivedWebhook, bool>? which = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Received.Count(which ?? (_ => true)) < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var matching = Received.Where(which ?? (_ => true)).ToList();
        Assert.True(matching.Count >= count, $"the receiver got {matching.Count} matching webhooks within {timeout}, not {count}: {string.Join(" | ", Received.Select(r => r.Body))}");
        return matching;
    }

    protected override async Task AnswerAsync(HttpListenerContext context)
    {
        using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        _received.Enqueue(new ReceivedWebhook(DateTimeOffset.UtcNow, body, context.Request.Headers["X-Platform-Signature"],
            context.Request.Headers["X-Platform-Delivery"], context.Request.Headers["X-Platform-Event"]));
        await Task.Delay(Delay);
        context.Response.StatusCode = (int)(_answers.TryDequeue(out var status) ? status : HttpStatusCode.OK);
        context.Response.Close();
    }
}
