using System.Net;
using System.Net.Sockets;

namespace AppHost.Hosting;

/// <summary>
/// Hands out loopback ports: the preferred port when it is free (stable URLs for people), otherwise
/// one the kernel picks. Tests ask for kernel-picked ports only, so parallel runs never collide.
/// </summary>
public sealed class PortAllocator(bool preferFixedPorts)
{
    private readonly HashSet<int> _given = [];

    public int Allocate(int preferred)
    {
        lock (_given)
        {
            if (preferFixedPorts && preferred > 0 && !_given.Contains(preferred) && IsFree(preferred))
            {
                _given.Add(preferred);
                return preferred;
            }

            while (true)
            {
                using var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                var port = ((IPEndPoint)listener.LocalEndpoint).Port;
                listener.Stop();
                if (_given.Add(port))
                {
                    return port;
                }
            }
        }
    }

    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
