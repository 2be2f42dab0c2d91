using Platform.ClickHouse;

namespace Platform.Testing;

/// <summary>
/// The demo product's replicated tables exactly as the CDC bridge's apply side creates and fills them
/// (docs/cdc-apply.md: ReplacingMergeTree by <c>_version</c>, every non-key column Nullable, a delete is
/// the keys with <c>is_deleted = 1</c>, a <c>_current</c> view per table). Tests of what reads them
/// (the dimension models, the Api's plan dimensions) write rows here without running the bridge.
/// </summary>
public sealed class CdcContractTables(ClickHouseClient client)
{
    private const string Meta = "_version UInt64, is_deleted UInt8, _op String, _lsn String, _commit_time DateTime, _tx_id UInt64, _applied_at DateTime";

    private long _version;

    public async Task CreateAsync()
    {
        string[] statements =
        [
            $"CREATE TABLE IF NOT EXISTS cdc_accounts (tenant_id String, id Int64, name Nullable(String), plan Nullable(String), seats Nullable(Int32), created_at Nullable(DateTime), updated_at Nullable(DateTime), {Meta}) ENGINE = ReplacingMergeTree(_version) ORDER BY (tenant_id, id)",
            "CREATE VIEW IF NOT EXISTS cdc_accounts_current AS SELECT tenant_id, id, name, plan, seats, created_at, updated_at FROM cdc_accounts FINAL WHERE is_deleted = 0",
            $"CREATE TABLE IF NOT EXISTS cdc_users (tenant_id String, id String, account_id Nullable(Int64), email Nullable(String), signup_at Nullable(DateTime), country Nullable(String), {Meta}) ENGINE = ReplacingMergeTree(_version) ORDER BY (tenant_id, id)",
            "CREATE VIEW IF NOT EXISTS cdc_users_current AS SELECT tenant_id, id, account_id, email, signup_at, country FROM cdc_users FINAL WHERE is_deleted = 0",
            $"CREATE TABLE IF NOT EXISTS cdc_subscriptions (tenant_id String, id Int64, account_id Nullable(Int64), plan Nullable(String), mrr_cents Nullable(Int64), status Nullable(String), started_at Nullable(DateTime), ended_at Nullable(DateTime), {Meta}) ENGINE = ReplacingMergeTree(_version) ORDER BY (tenant_id, id)",
            "CREATE VIEW IF NOT EXISTS cdc_subscriptions_current AS SELECT tenant_id, id, account_id, plan, mrr_cents, status, started_at, ended_at FROM cdc_subscriptions FINAL WHERE is_deleted = 0",
        ];
        foreach (var statement in statements)
        {
            await client.ExecuteAsync(statement);
        }
    }

    public Task AccountAsync(string tenant, long id, string name, string plan, int seats, DateTimeOffset createdAt) =>
        InsertAsync("cdc_accounts", tenant, ClickHouseSql.Literal(id),
            [ClickHouseSql.Literal(name), ClickHouseSql.Literal(plan), ClickHouseSql.Literal(seats), ClickHouseSql.Literal(createdAt), ClickHouseSql.Literal(createdAt)], "u");

    public Task UserAsync(string tenant, string id, long accountId, DateTimeOffset signupAt, string? country) =>
        InsertAsync("cdc_users", tenant, ClickHouseSql.Literal(id),
            [ClickHouseSql.Literal(accountId), ClickHouseSql.Literal(id + "@example.com"), ClickHouseSql.Literal(signupAt), country is null ? "NULL" : ClickHouseSql.Literal(country)], "u");

    public Task SubscriptionAsync(string tenant, long id, long accountId, string plan, long mrrCents, string status, DateTimeOffset startedAt) =>
        InsertAsync("cdc_subscriptions", tenant, ClickHouseSql.Literal(id),
            [ClickHouseSql.Literal(accountId), ClickHouseSql.Literal(plan), ClickHouseSql.Literal(mrrCents), ClickHouseSql.Literal(status), ClickHouseSql.Literal(startedAt), status == "active" ? "NULL" : ClickHouseSql.Literal(startedAt.AddDays(30))], "u");

    /// <summary>A replicated delete: the key, every other column NULL, <c>is_deleted = 1</c>, a newer version.</summary>
    public Task DeleteAsync(string table, string tenant, string key) =>
        InsertAsync(table, tenant, key, Enumerable.Repeat("NULL", Columns[table].Length).ToArray(), "d");

    /// <summary>Each table's columns after tenant_id and the key, in the order the helpers pass values.</summary>
    private static readonly Dictionary<string, string[]> Columns = new()
    {
        ["cdc_accounts"] = ["name", "plan", "seats", "created_at", "updated_at"],
        ["cdc_users"] = ["account_id", "email", "signup_at", "country"],
        ["cdc_subscriptions"] = ["account_id", "plan", "mrr_cents", "status", "started_at", "ended_at"],
    };

    private async Task InsertAsync(string table, string tenant, string key, string[] columns, string op)
    {
        // Versions only grow, as LSNs do: a later call is a later change.
        var version = Interlocked.Increment(ref _version) + 1_000;
        // Columns named: a table the bridge itself created first may order them otherwise.
        await client.ExecuteAsync(
            $"INSERT INTO {ClickHouseSql.Identifier(table)} (tenant_id, id, {string.Join(", ", Columns[table])}, _version, is_deleted, _op, _lsn, _commit_time, _tx_id, _applied_at) VALUES ({ClickHouseSql.Literal(tenant)}, {key}, {string.Join(", ", columns)}, " +
            $"{version}, {(op == "d" ? 1 : 0)}, {ClickHouseSql.Literal(op)}, {ClickHouseSql.Literal($"0/{version:X}")}, now(), {version}, now())");
    }
}
