using System.Net;

namespace Platform.FunctionalTests;

/// <summary>An HTTP endpoint on a free loopback port that the platform sends to (OTLP exports, webhooks); each request answered on its own.</summary>
internal abstract class LoopbackReceiver : IDisposable
{
    private readonly HttpListener _listener = new();

    protected LoopbackReceiver()
    {
        Port = new AppHost.PlatformOptions { StateDirectory = "", FixedPorts = false }.Port(0);
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public int Port { get; }

    public void Dispose() => _listener.Close();

    /// <summary>Reads the request and writes the answer; the connection's errors once the test is over are ignored.</summary>
    protected abstract Task AnswerAsync(HttpListenerContext context);

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

            _ = Task.Run(async () =>
            {
                try
                {
                    await AnswerAsync(context);
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or IOException)
                {
                }
            });
        }
    }
}
