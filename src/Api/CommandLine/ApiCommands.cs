using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Platform.Tenancy;

namespace Api.CommandLine;

/// <summary>
/// <c>Api token --tenant ID [--scope users] [--days N] [--signing-key KEY]</c>: prints a read token
/// for Grafana or a service. The key comes from --signing-key, <c>Api__Jwt__SigningKey</c>, or the
/// jwt_signing_key of a local platform's .platform/endpoints.json.
/// </summary>
public static class ApiCommands
{
    public static bool IsCommand(string[] args) => args.Length > 0 && args[0] is "token";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var options = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 1; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                error.WriteLine($"Unexpected argument '{args[i]}'. {Usage}");
                return 2;
            }

            (options.TryGetValue(args[i], out var values) ? values : options[args[i]] = []).Add(args[++i]);
        }

        if (options.Keys.Except(["--tenant", "--scope", "--days", "--signing-key"]).FirstOrDefault() is { } unknown)
        {
            error.WriteLine($"Unknown option '{unknown}'. {Usage}");
            return 2;
        }

        var tenant = options.GetValueOrDefault("--tenant")?.Single();
        var scopes = options.GetValueOrDefault("--scope") ?? [];
        var days = options.GetValueOrDefault("--days")?.Single() ?? "30";
        if (!TenantDirectory.IsValidTenantId(tenant) || scopes.Any(s => !ApiScopes.Grantable.Contains(s))
            || !int.TryParse(days, NumberStyles.None, CultureInfo.InvariantCulture, out var validDays) || validDays is < 1 or > 3660)
        {
            error.WriteLine(Usage);
            return 2;
        }

        var key = options.GetValueOrDefault("--signing-key")?.Single() ?? Environment.GetEnvironmentVariable("Api__Jwt__SigningKey") ?? FindPlatformSigningKey();
        if (key is not { Length: >= TenantTokens.MinimumKeyLength })
        {
            error.WriteLine($"No signing key of at least {TenantTokens.MinimumKeyLength} characters: pass --signing-key, set Api__Jwt__SigningKey, or run from a folder with a started platform (.platform/endpoints.json).");
            return 2;
        }

        output.WriteLine(TenantTokens.Create(new JwtOptions { SigningKey = key }, tenant!, scopes, TimeSpan.FromDays(validDays)));
        return 0;
    }

    private const string Usage = "Usage: Api token --tenant ID [--scope users] [--days 1-3660, default 30] [--signing-key KEY]";

    private static string? FindPlatformSigningKey()
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var file = Path.Combine(dir.FullName, ".platform", "endpoints.json");
            if (File.Exists(file))
            {
                using var document = JsonDocument.Parse(File.ReadAllText(file));
                return document.RootElement.TryGetProperty("jwt_signing_key", out var value) ? value.GetString() : null;
            }
        }

        return null;
    }
}
