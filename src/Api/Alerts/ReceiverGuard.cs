using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Api.Alerts;

/// <summary>
/// Keeps webhooks off the platform's own services: a receiver URL must be http(s), and a loopback (or unspecified)
/// host may not name a port the platform listens on (its services, ClickHouse, PostgreSQL, Kafka, the dashboard's
/// OTLP intake), nor may any host name a platform service's exact address. Checked when a rule is made and again on
/// every connection (<see cref="ConnectAsync"/>), so a name that later resolves to loopback is refused too.
/// </summary>
public sealed partial class ReceiverGuard
{
    private readonly HashSet<int> _platformPorts = [];
    private readonly HashSet<string> _platformAuthorities = new(StringComparer.OrdinalIgnoreCase);

    private readonly IServer? _server;

    public ReceiverGuard(IConfiguration configuration, IServer? server = null)
    {
        _server = server;
        var values = configuration.GetSection("services").AsEnumerable()
            .Concat(configuration.GetSection("ConnectionStrings").AsEnumerable())
            .Concat([new("urls", configuration["urls"]), new("otlp", configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])])
            .Select(pair => pair.Value)
            .OfType<string>();
        foreach (var value in values)
        {
            foreach (Match match in PortPattern().Matches(value))
            {
                _platformPorts.Add(int.Parse(match.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture));
            }

            foreach (var part in value.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var text = part.Contains('=') ? part[(part.IndexOf('=') + 1)..] : part;
                if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Host.Length > 0)
                {
                    _platformAuthorities.Add($"{uri.Host}:{uri.Port}");
                }
            }
        }

        // Bare port numbers, which the pattern above does not see.
        foreach (var port in configuration["http_ports"]?.Split(';', StringSplitOptions.RemoveEmptyEntries) ?? [])
        {
            if (int.TryParse(port, out var p))
            {
                _platformPorts.Add(p);
            }
        }
    }

    /// <summary>The ports configured for the platform's parts, and the ports this Api listens on.</summary>
    public IReadOnlySet<int> PlatformPorts
    {
        get
        {
            var ports = new HashSet<int>(_platformPorts);
            foreach (var address in _server?.Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
            {
                if (Uri.TryCreate(address.Replace("://+", "://localhost").Replace("://*", "://localhost"), UriKind.Absolute, out var uri))
                {
                    ports.Add(uri.Port);
                }
            }

            return ports;
        }
    }

    /// <summary>Why the URL cannot receive webhooks, or null when it can.</summary>
    public string? Problem(string? url)
    {
        if (url is null || url.Length > 2048 || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return "webhook.url must be an absolute http:// or https:// URL of at most 2048 characters.";
        }

        if (uri.UserInfo.Length > 0)
        {
            return "webhook.url may not carry credentials; the webhook is signed with the rule's secret instead.";
        }

        if (_platformAuthorities.Contains($"{uri.Host}:{uri.Port}") || (IsLoopbackName(uri.Host) && PlatformPorts.Contains(uri.Port)))
        {
            return $"webhook.url points at one of the platform's own services ({uri.Host}:{uri.Port}); a receiver must be outside the platform.";
        }

        return null;
    }

    /// <summary>The webhook client's connect step: resolves the host and refuses a loopback address on a platform port.</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var endpoint = context.DnsEndPoint;
        var addresses = IPAddress.TryParse(endpoint.Host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(endpoint.Host, cancellationToken);
        if (PlatformPorts.Contains(endpoint.Port) && addresses.Any(IsLoopback))
        {
            throw new HttpRequestException($"{endpoint.Host}:{endpoint.Port} resolves to a loopback address on a platform port; webhooks are not sent there.");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endpoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static bool IsLoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IsLoopback(address));

    private static bool IsLoopback(IPAddress address) =>
        IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)
        || (address.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(address.MapToIPv4()));

    [GeneratedRegex(@"(?:[:=]|Port=)(?<port>[0-9]{2,5})(?![0-9])", RegexOptions.IgnoreCase)]
    private static partial Regex PortPattern();
}
