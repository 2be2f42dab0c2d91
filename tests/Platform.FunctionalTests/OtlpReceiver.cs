using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace Platform.FunctionalTests;

/// <summary>
/// A minimal OTLP/HTTP endpoint on loopback: records every export (path and protobuf body) and
/// answers with an empty, valid export response.
/// </summary>
internal sealed class OtlpReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<(string Path, byte[] Body)> _received = new();

    public OtlpReceiver()
    {
        Port = new AppHost.PlatformOptions { StateDirectory = "", FixedPorts = false }.Port(0);
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>True when an export to <paramref name="signal"/> (traces, metrics, logs) came from the named service.</summary>
    public bool Received(string signal, string serviceName) =>
        _received.Any(r => r.Path == $"/v1/{signal}" && Encoding.UTF8.GetString(r.Body).Contains(serviceName, StringComparison.Ordinal));

    public void Dispose() => _listener.Close();

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            _received.Enqueue((context.Request.Url!.AbsolutePath, body.ToArray()));
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }
}
