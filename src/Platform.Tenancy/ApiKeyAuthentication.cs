using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Platform.Tenancy;

/// <summary>Reads an API key from a request: <c>Authorization: Bearer KEY</c>, or Basic with the key as user name (Segment's way).</summary>
public static class ApiKeyAuthentication
{
    public static string? ReadKey(HttpRequest request)
    {
        var header = request.Headers[HeaderNames.Authorization].ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim();
        }

        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
                var colon = decoded.IndexOf(':', StringComparison.Ordinal);
                return colon >= 0 ? decoded[..colon] : decoded;
            }
            catch (FormatException)
            {
                return null;
            }
        }

        return null;
    }
}
