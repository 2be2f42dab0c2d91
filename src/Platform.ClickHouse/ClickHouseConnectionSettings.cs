using System.Data.Common;

namespace Platform.ClickHouse;

/// <summary>
/// Where a ClickHouse server answers HTTP and as whom. Parsed from an Aspire-shaped
/// <c>ConnectionStrings:clickhouse</c> value: <c>Endpoint=http://host:8123;Username=default;Password=;Database=analytics</c>
/// (or <c>Host=...;Port=...;Protocol=http</c> instead of <c>Endpoint</c>).
/// </summary>
public sealed record ClickHouseConnectionSettings(Uri Endpoint, string Username, string Password, string Database)
{
    public static ClickHouseConnectionSettings Parse(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
        string? Get(string key) => builder.TryGetValue(key, out var value) ? value?.ToString() : null;

        Uri endpoint;
        if (Get("Endpoint") is { Length: > 0 } url)
        {
            endpoint = new Uri(url.TrimEnd('/') + "/");
        }
        else if (Get("Host") is { Length: > 0 } host)
        {
            var protocol = Get("Protocol") ?? "http";
            var port = Get("Port") ?? (protocol == "https" ? "8443" : "8123");
            endpoint = new Uri($"{protocol}://{host}:{port}/");
        }
        else
        {
            throw new FormatException("The ClickHouse connection string needs Endpoint=... or Host=....");
        }

        var database = Get("Database") is { Length: > 0 } db ? db : "default";
        ClickHouseSql.Identifier(database); // refuse a database name that could not be quoted safely
        return new ClickHouseConnectionSettings(endpoint, Get("Username") ?? Get("User") ?? "default", Get("Password") ?? "", database);
    }

    public override string ToString() =>
        $"Endpoint={Endpoint.GetLeftPart(UriPartial.Authority)};Username={Username};Password={Password};Database={Database}";
}
