using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace Platform.Tenancy;

/// <summary>What a key may do: write events, or read metrics.</summary>
public enum ApiKeyKind
{
    Write,
    Read,
}

/// <summary>
/// Tenants and their API keys in the platform's PostgreSQL database. Keys are random 160-bit
/// tokens stored only as SHA-256 hashes (a leaked table reveals no usable key); lookups are cached
/// briefly so intake does not query PostgreSQL per request.
/// </summary>
public sealed partial class TenantDirectory(NpgsqlDataSource dataSource, TimeProvider time)
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<string, (string? TenantId, DateTimeOffset Until)> _cache = new();
    private Task? _schema;

    public static bool IsValidTenantId(string? id) => id is not null && TenantIdPattern().IsMatch(id);

    public async Task EnsureSchemaAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // CREATE ... IF NOT EXISTS still races on the catalog; the lock serialises replicas starting together.
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(7301001)", connection, transaction))
        {
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var command = new NpgsqlCommand(
            """
            CREATE TABLE IF NOT EXISTS tenants (
                id text PRIMARY KEY,
                name text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE IF NOT EXISTS api_keys (
                key_hash text PRIMARY KEY,
                tenant_id text NOT NULL REFERENCES tenants (id),
                kind text NOT NULL CHECK (kind IN ('write', 'read')),
                prefix text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                revoked_at timestamptz
            );
            CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant_id);
            """, connection, transaction))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Creates the tenant, or leaves an existing one as it is.</summary>
    public async Task CreateTenantAsync(string id, string name, CancellationToken cancellationToken = default)
    {
        if (!IsValidTenantId(id))
        {
            throw new ArgumentException("A tenant id is 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit.", nameof(id));
        }

        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING");
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(name);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> TenantExistsAsync(string id, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("SELECT 1 FROM tenants WHERE id = $1");
        command.Parameters.AddWithValue(id);
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    /// <summary>Issues a new key and returns it; this is the only time its plain text exists.</summary>
    public async Task<string> IssueKeyAsync(string tenantId, ApiKeyKind kind, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        var prefix = kind == ApiKeyKind.Write ? "wk_" : "rk_";
        var key = prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));
        await using var command = dataSource.CreateCommand("INSERT INTO api_keys (key_hash, tenant_id, kind, prefix) VALUES ($1, $2, $3, $4)");
        command.Parameters.AddWithValue(Hash(key));
        command.Parameters.AddWithValue(tenantId);
        command.Parameters.AddWithValue(KindName(kind));
        command.Parameters.AddWithValue(key[..7]);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return key;
    }

    public async Task<bool> RevokeKeyAsync(string key, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1 AND revoked_at IS NULL");
        command.Parameters.AddWithValue(Hash(key));
        var revoked = await command.ExecuteNonQueryAsync(cancellationToken) > 0;
        _cache.Clear();
        return revoked;
    }

    /// <summary>The tenant a live key of this kind belongs to, or null for an unknown, revoked or wrong-kind key.</summary>
    public async Task<string?> ResolveAsync(string key, ApiKeyKind kind, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 200)
        {
            return null;
        }

        var cacheKey = KindName(kind) + ":" + Hash(key);
        var now = time.GetUtcNow();
        if (_cache.TryGetValue(cacheKey, out var cached) && cached.Until > now)
        {
            return cached.TenantId;
        }

        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("SELECT tenant_id FROM api_keys WHERE key_hash = $1 AND kind = $2 AND revoked_at IS NULL");
        command.Parameters.AddWithValue(Hash(key));
        command.Parameters.AddWithValue(KindName(kind));
        var tenantId = await command.ExecuteScalarAsync(cancellationToken) as string;
        _cache[cacheKey] = (tenantId, now + CacheFor);
        return tenantId;
    }

    private Task EnsureSchemaOnceAsync(CancellationToken cancellationToken)
    {
        var schema = _schema;
        if (schema is null || schema.IsFaulted || schema.IsCanceled)
        {
            schema = _schema = EnsureSchemaAsync(cancellationToken);
        }

        return schema;
    }

    private static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static string KindName(ApiKeyKind kind) => kind == ApiKeyKind.Write ? "write" : "read";

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial Regex TenantIdPattern();
}
