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

/// <summary>A live key: its tenant, and the scopes it carries beyond its kind's.</summary>
public sealed record ResolvedKey(string TenantId, IReadOnlyList<string> Scopes);

/// <summary>
/// Tenants and their API keys in the platform's PostgreSQL database. Keys are random 160-bit
/// tokens stored only as SHA-256 hashes (a leaked table reveals no usable key); lookups are cached
/// for <see cref="CacheFor"/> and refreshed ahead of it, so requests do not query PostgreSQL.
/// </summary>
public sealed partial class TenantDirectory(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>The oldest a key lookup or intake profile can be: a revocation elsewhere takes effect within it.</summary>
    public static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    /// <summary>How long past <see cref="CacheFor"/> a key seen before keeps working while PostgreSQL cannot be reached.</summary>
    public static readonly TimeSpan OutageGrace = TimeSpan.FromMinutes(5);

    private readonly RefreshAheadCache<ResolvedKey?> _keys = new(time, CacheFor, outageGrace: OutageGrace, isOutage: IsStoreUnreachable);
    private readonly RefreshAheadCache<TenantIntakeProfile?> _profiles = new(time, CacheFor, outageGrace: OutageGrace, isOutage: IsStoreUnreachable);
    private readonly PostgresSchema _schema = new(dataSource, 7301001, Schema);

    /// <summary>PostgreSQL is down, restarting or out of reach, as opposed to answering with an error about the query.</summary>
    public static bool IsStoreUnreachable(Exception ex) => ex switch
    {
        PostgresException server => server.SqlState.StartsWith("57P", StringComparison.Ordinal) || server.SqlState.StartsWith("08", StringComparison.Ordinal),
        NpgsqlException or TimeoutException or System.Net.Sockets.SocketException => true,
        _ => false,
    };

    public static bool IsValidTenantId(string? id) => id is not null && TenantIdPattern().IsMatch(id);

    public Task EnsureSchemaAsync(CancellationToken cancellationToken = default) => _schema.ApplyAsync(cancellationToken);

    public const string TenantIdRule = "A tenant id is 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit.";

    /// <summary>Creates the tenant and returns true, or leaves an existing one as it is and returns false.</summary>
    public async Task<bool> CreateTenantAsync(string id, string name, TenantSettings? settings = null, CancellationToken cancellationToken = default)
    {
        if (!IsValidTenantId(id))
        {
            throw new ArgumentException(TenantIdRule, nameof(id));
        }

        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("INSERT INTO tenants (id, name, settings) VALUES ($1, $2, $3::jsonb) ON CONFLICT (id) DO NOTHING");
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(name);
        command.Parameters.AddWithValue(SerializeSettings(settings ?? TenantSettings.Default));
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    /// <summary>Replaces the tenant's settings; false when there is no such tenant. Intake sees them within the cache time.</summary>
    public async Task<bool> UpdateSettingsAsync(string id, TenantSettings settings, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("UPDATE tenants SET settings = $2::jsonb WHERE id = $1");
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(SerializeSettings(settings));
        var updated = await command.ExecuteNonQueryAsync(cancellationToken) > 0;
        _profiles.Remove(id);
        return updated;
    }

    public async Task<TenantInfo?> GetTenantAsync(string id, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tenant = new NpgsqlCommand("SELECT name, created_at, settings::text FROM tenants WHERE id = $1", connection) { Parameters = { new() { Value = id } } };
        string name;
        DateTimeOffset createdAt;
        TenantSettings settings;
        await using (var reader = await tenant.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            (name, createdAt, settings) = (reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), DeserializeSettings(reader.GetString(2)));
        }

        await using var keys = new NpgsqlCommand("SELECT key_hash, kind, prefix, created_at, revoked_at, scopes FROM api_keys WHERE tenant_id = $1 ORDER BY created_at", connection) { Parameters = { new() { Value = id } } };
        var list = new List<ApiKeyInfo>();
        await using (var reader = await keys.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                list.Add(new ApiKeyInfo(KeyId(reader.GetString(0)), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3),
                    reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4), reader.GetFieldValue<string[]>(5)));
            }
        }

        return new TenantInfo(id, name, createdAt, settings, list);
    }

    /// <summary>The tenant's intake rules and hash secret, cached like key lookups; null for an unknown tenant.</summary>
    public ValueTask<TenantIntakeProfile?> GetIntakeProfileAsync(string tenantId, CancellationToken cancellationToken = default) =>
        _profiles.GetAsync(tenantId, c => LoadIntakeProfileAsync(tenantId, c), cancellationToken);

    private async Task<TenantIntakeProfile?> LoadIntakeProfileAsync(string tenantId, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("SELECT settings::text, hash_key FROM tenants WHERE id = $1");
        command.Parameters.AddWithValue(tenantId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        TenantIntakeProfile? profile = null;
        if (await reader.ReadAsync(cancellationToken))
        {
            profile = new TenantIntakeProfile(tenantId, DeserializeSettings(reader.GetString(0)), Encoding.UTF8.GetBytes(reader.GetString(1)));
        }

        return profile;
    }

    public async Task<bool> TenantExistsAsync(string id, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("SELECT 1 FROM tenants WHERE id = $1");
        command.Parameters.AddWithValue(id);
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    /// <summary>Issues a new key and returns it; this is the only time its plain text exists.</summary>
    public Task<string> IssueKeyAsync(string tenantId, ApiKeyKind kind, CancellationToken cancellationToken = default) =>
        IssueKeyAsync(tenantId, kind, [], cancellationToken);

    /// <summary>Issues a key with extra scopes (read keys only, see <see cref="ApiScopes"/>).</summary>
    public async Task<string> IssueKeyAsync(string tenantId, ApiKeyKind kind, IReadOnlyCollection<string> scopes, CancellationToken cancellationToken = default)
    {
        if (scopes.Any(s => !ApiScopes.Grantable.Contains(s)) || (kind == ApiKeyKind.Write && scopes.Count > 0))
        {
            throw new ArgumentException(ApiScopes.Rule, nameof(scopes));
        }

        await EnsureSchemaOnceAsync(cancellationToken);
        var prefix = kind == ApiKeyKind.Write ? "wk_" : "rk_";
        var key = prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));
        await using var command = dataSource.CreateCommand("INSERT INTO api_keys (key_hash, tenant_id, kind, prefix, scopes) VALUES ($1, $2, $3, $4, $5)");
        command.Parameters.AddWithValue(Hash(key));
        command.Parameters.AddWithValue(tenantId);
        command.Parameters.AddWithValue(KindName(kind));
        command.Parameters.AddWithValue(key[..7]);
        command.Parameters.AddWithValue(scopes.Distinct().Order(StringComparer.Ordinal).ToArray());
        await command.ExecuteNonQueryAsync(cancellationToken);
        return key;
    }

    public async Task<bool> RevokeKeyAsync(string key, CancellationToken cancellationToken = default)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("UPDATE api_keys SET revoked_at = now() WHERE key_hash = $1 AND revoked_at IS NULL");
        command.Parameters.AddWithValue(Hash(key));
        var revoked = await command.ExecuteNonQueryAsync(cancellationToken) > 0;
        _keys.Clear();
        return revoked;
    }

    /// <summary>Revokes one of the tenant's keys by its id (as <see cref="GetTenantAsync"/> lists it); false when none matched.</summary>
    public async Task<bool> RevokeKeyByIdAsync(string tenantId, string keyId, CancellationToken cancellationToken = default)
    {
        if (!KeyIdPattern().IsMatch(keyId))
        {
            return false;
        }

        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND left(key_hash, 16) = $2 AND revoked_at IS NULL");
        command.Parameters.AddWithValue(tenantId);
        command.Parameters.AddWithValue(keyId);
        var revoked = await command.ExecuteNonQueryAsync(cancellationToken) > 0;
        _keys.Clear();
        return revoked;
    }

    /// <summary>A key's public id: the start of its hash, enough to name it and useless to authenticate.</summary>
    public static string KeyIdOf(string key) => KeyId(Hash(key));

    /// <summary>The tenant a live key of this kind belongs to, or null for an unknown, revoked or wrong-kind key.</summary>
    public async Task<string?> ResolveAsync(string key, ApiKeyKind kind, CancellationToken cancellationToken = default) =>
        (await ResolveKeyAsync(key, kind, cancellationToken))?.TenantId;

    /// <summary>The tenant and extra scopes of a live key of this kind, or null.</summary>
    public async Task<ResolvedKey?> ResolveKeyAsync(string key, ApiKeyKind kind, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(key) || key.Length > 200)
        {
            return null;
        }

        var hash = Hash(key);
        return await _keys.GetAsync(KindName(kind) + ":" + hash, c => LoadKeyAsync(hash, kind, c), cancellationToken);
    }

    private async Task<ResolvedKey?> LoadKeyAsync(string keyHash, ApiKeyKind kind, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("SELECT tenant_id, scopes FROM api_keys WHERE key_hash = $1 AND kind = $2 AND revoked_at IS NULL");
        command.Parameters.AddWithValue(keyHash);
        command.Parameters.AddWithValue(KindName(kind));
        ResolvedKey? resolved = null;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                resolved = new ResolvedKey(reader.GetString(0), reader.GetFieldValue<string[]>(1));
            }
        }

        return resolved;
    }

    private Task EnsureSchemaOnceAsync(CancellationToken cancellationToken) => _schema.ApplyOnceAsync(cancellationToken);

    private const string Schema =
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
        ALTER TABLE tenants ADD COLUMN IF NOT EXISTS settings jsonb NOT NULL DEFAULT '{}';
        -- The secret of the tenant's keyed hashes (PII): random per tenant, so hashes never link tenants.
        ALTER TABLE tenants ADD COLUMN IF NOT EXISTS hash_key text NOT NULL
            DEFAULT replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
        -- What a read key may read beyond the metrics every read key gets (e.g. 'users': one user's events).
        ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS scopes text[] NOT NULL DEFAULT '{}';
        """;

    private static string KeyId(string keyHash) => keyHash[..16];

    private static string SerializeSettings(TenantSettings settings) => System.Text.Json.JsonSerializer.Serialize(settings, TenancyJsonContext.Default.TenantSettings);

    private static TenantSettings DeserializeSettings(string json) =>
        System.Text.Json.JsonSerializer.Deserialize(json, TenancyJsonContext.Default.TenantSettings) ?? TenantSettings.Default;

    private static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static string KindName(ApiKeyKind kind) => kind == ApiKeyKind.Write ? "write" : "read";

    [GeneratedRegex("^[0-9a-f]{16}$")]
    private static partial Regex KeyIdPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial Regex TenantIdPattern();
}
