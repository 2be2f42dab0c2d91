using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace Platform.FunctionalTests;

/// <summary>
/// A minimal OTLP/HTTP endpoint on loopback: records every export (path and protobuf body) and
/// answers with an empty, valid export response.
/// </summary>
internal sealed class OtlpReceiver : LoopbackReceiver
{
    private readonly ConcurrentQueue<(string Path, byte[] Body)> _received = new();

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>True when an export to <paramref name="signal"/> (traces, metrics, logs) came from the named service.</summary>
    public bool Received(string signal, string serviceName) =>
        _received.Any(r => r.Path == $"/v1/{signal}" && Encoding.UTF8.GetString(r.Body).Contains(serviceName, StringComparison.Ordinal));

    protected override async Task AnswerAsync(HttpListenerContext context)
    {
        using var body = new MemoryStream();
        await context.Request.InputStream.CopyToAsync(body);
        _received.Enqueue((context.Request.Url!.AbsolutePath, body.ToArray()));
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/x-protobuf";
        context.Response.Close();
    }
}
