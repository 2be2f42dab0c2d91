using Npgsql;
using NpgsqlTypes;
using Platform.Tenancy;

namespace Api.Alerts;

/// <summary>A webhook to send, or sent: the body is made once, at the transition, so every retry sends (and signs) the same bytes.</summary>
public sealed record AlertDelivery(
    long Id, long RuleId, string Event, string Status, int Attempts, int? LastStatusCode, string? LastError,
    DateTimeOffset CreatedAt, DateTimeOffset NextAttemptAt, DateTimeOffset? FinishedAt);

/// <summary>A pending delivery with what sending it needs.</summary>
public sealed record OutgoingWebhook(long Id, long RuleId, string Event, string Body, int Attempts, string Url, string Format, string Secret);

/// <summary>
/// Rules, their state and their deliveries in the platform's PostgreSQL database (next to the tenants they belong to),
/// and the lease that lets one Api instance of many evaluate and deliver. A state change and the webhook it calls for
/// are written in one transaction, so a crash between them neither loses nor doubles a notification.
/// </summary>
public sealed class AlertStore(NpgsqlDataSource dataSource, TenantDirectory tenants)
{
    private const string RuleColumns =
        "id, name, tenant_id, metric, window_spec, event_name, condition, compare_to, threshold, every_seconds, for_seconds, webhook_url, webhook_format, secret, " +
        "created_at, state, state_since, last_value, last_baseline, evaluated_at, last_error";

    private const string DeliveryColumns = "id, rule_id, event, status, attempts, last_status_code, last_error, created_at, next_attempt_at, finished_at";

    private readonly PostgresSchema _schema = new(dataSource, 7301002, Schema, before: tenants.EnsureSchemaAsync);

    public Task EnsureSchemaAsync(CancellationToken cancellationToken) => _schema.ApplyAsync(cancellationToken);

    public async Task<AlertRule> CreateAsync(AlertRule rule, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            $"""
            INSERT INTO alert_rules (name, tenant_id, metric, window_spec, event_name, condition, compare_to, threshold, every_seconds, for_seconds,
                                     webhook_url, webhook_format, secret, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            RETURNING {RuleColumns}
            """);
        command.Parameters.AddWithValue(rule.Name);
        AddNullable(command, rule.TenantId);
        command.Parameters.AddWithValue(rule.Metric);
        AddNullable(command, rule.Window);
        AddNullable(command, rule.EventName);
        command.Parameters.AddWithValue(rule.Condition);
        AddNullable(command, rule.CompareTo);
        command.Parameters.AddWithValue(rule.Threshold);
        command.Parameters.AddWithValue((int)rule.Every.TotalSeconds);
        command.Parameters.AddWithValue((int)rule.For.TotalSeconds);
        command.Parameters.AddWithValue(rule.WebhookUrl);
        command.Parameters.AddWithValue(rule.WebhookFormat);
        command.Parameters.AddWithValue(rule.Secret);
        command.Parameters.AddWithValue(rule.CreatedAt);
        return (await ReadRulesAsync(command, cancellationToken)).Single();
    }

    /// <summary>Rules of one tenant, the platform's (<paramref name="platformOnly"/>), or all.</summary>
    public async Task<List<AlertRule>> ListAsync(string? tenantId, bool platformOnly, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            $"SELECT {RuleColumns} FROM alert_rules WHERE ($1::text IS NULL OR tenant_id = $1) AND (NOT $2 OR tenant_id IS NULL) ORDER BY id");
        AddNullable(command, tenantId);
        command.Parameters.AddWithValue(platformOnly);
        return await ReadRulesAsync(command, cancellationToken);
    }

    /// <summary>What a tenant's views show: its own rules and the platform's, in one read.</summary>
    public async Task<List<AlertRule>> VisibleToAsync(string tenantId, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand($"SELECT {RuleColumns} FROM alert_rules WHERE tenant_id = $1 OR tenant_id IS NULL ORDER BY id");
        command.Parameters.AddWithValue(tenantId);
        return await ReadRulesAsync(command, cancellationToken);
    }

    public async Task<AlertRule?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand($"SELECT {RuleColumns} FROM alert_rules WHERE id = $1");
        command.Parameters.AddWithValue(id);
        return (await ReadRulesAsync(command, cancellationToken)).SingleOrDefault();
    }

    /// <summary>Deletes the rule and its history; a notification not sent yet is dropped with it.</summary>
    public async Task<bool> DeleteAsync(long id, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand("DELETE FROM alert_rules WHERE id = $1");
        command.Parameters.AddWithValue(id);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    /// <summary>Rules whose schedule says they are due at <paramref name="now"/>, the longest waiting first.</summary>
    public async Task<List<AlertRule>> DueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            $"""
            SELECT {RuleColumns} FROM alert_rules
            WHERE evaluated_at IS NULL OR evaluated_at + make_interval(secs => every_seconds) <= $1
            ORDER BY evaluated_at NULLS FIRST
            LIMIT $2
            """);
        command.Parameters.AddWithValue(now);
        command.Parameters.AddWithValue(limit);
        return await ReadRulesAsync(command, cancellationToken);
    }

    /// <summary>Saves an evaluation and, when it changed firing into resolved or back, the webhook that says so, atomically.</summary>
    public async Task RecordAsync(long ruleId, AlertState state, (string Event, string Body)? notification, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var update = new NpgsqlCommand(
            """
            UPDATE alert_rules SET state = $2, state_since = $3, last_value = $4, last_baseline = $5, evaluated_at = $6, last_error = $7
            WHERE id = $1
            """, connection, transaction))
        {
            update.Parameters.AddWithValue(ruleId);
            update.Parameters.AddWithValue(state.Status);
            AddNullable(update, state.Since);
            AddNullable(update, state.Value);
            AddNullable(update, state.Baseline);
            AddNullable(update, state.EvaluatedAt);
            AddNullable(update, state.Error);
            if (await update.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return; // deleted while it was read
            }
        }

        if (notification is { } n)
        {
            await using var insert = new NpgsqlCommand(
                "INSERT INTO alert_deliveries (rule_id, event, body, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $4)", connection, transaction);
            insert.Parameters.AddWithValue(ruleId);
            insert.Parameters.AddWithValue(n.Event);
            insert.Parameters.AddWithValue(n.Body);
            insert.Parameters.AddWithValue(now);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The oldest pending delivery of each rule whose attempt is due: a rule's resolved never overtakes its firing.</summary>
    public async Task<List<OutgoingWebhook>> DueDeliveriesAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            """
            SELECT d.id, d.rule_id, d.event, d.body, d.attempts, r.webhook_url, r.webhook_format, r.secret
            FROM (
                SELECT DISTINCT ON (rule_id) id, rule_id, event, body, attempts, next_attempt_at
                FROM alert_deliveries WHERE status = 'pending' ORDER BY rule_id, id
            ) d
            JOIN alert_rules r ON r.id = d.rule_id
            WHERE d.next_attempt_at <= $1
            ORDER BY d.next_attempt_at
            LIMIT $2
            """);
        command.Parameters.AddWithValue(now);
        command.Parameters.AddWithValue(limit);
        var due = new List<OutgoingWebhook>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            due.Add(new OutgoingWebhook(reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4),
                reader.GetString(5), reader.GetString(6), reader.GetString(7)));
        }

        return due;
    }

    /// <summary>Records an attempt: <paramref name="status"/> is delivered, failed (no more tries) or pending (retried at <paramref name="nextAttemptAt"/>).</summary>
    public async Task RecordAttemptAsync(long deliveryId, string status, int attempts, int? statusCode, string? error, DateTimeOffset now, DateTimeOffset nextAttemptAt,
        CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            UPDATE alert_deliveries SET status = $2, attempts = $3, last_status_code = $4, last_error = $5, next_attempt_at = $7,
                   finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE $6 END
            WHERE id = $1
            """);
        command.Parameters.AddWithValue(deliveryId);
        command.Parameters.AddWithValue(status);
        command.Parameters.AddWithValue(attempts);
        AddNullable(command, statusCode);
        AddNullable(command, error);
        command.Parameters.AddWithValue(now);
        command.Parameters.AddWithValue(nextAttemptAt);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A rule's deliveries, newest first.</summary>
    public async Task<List<AlertDelivery>> DeliveriesAsync(long ruleId, int limit, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand($"SELECT {DeliveryColumns} FROM alert_deliveries WHERE rule_id = $1 ORDER BY id DESC LIMIT $2");
        command.Parameters.AddWithValue(ruleId);
        command.Parameters.AddWithValue(limit);
        return await ReadDeliveriesAsync(command, cancellationToken);
    }

    /// <summary>The latest delivery of each of the given rules.</summary>
    public async Task<Dictionary<long, AlertDelivery>> LatestDeliveriesAsync(IReadOnlyList<long> ruleIds, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            $"SELECT DISTINCT ON (rule_id) {DeliveryColumns} FROM alert_deliveries WHERE rule_id = ANY($1) ORDER BY rule_id, id DESC");
        command.Parameters.AddWithValue(ruleIds.ToArray());
        return (await ReadDeliveriesAsync(command, cancellationToken)).ToDictionary(d => d.RuleId);
    }

    /// <summary>Deliveries waiting (to be sent or retried), and those given up on since <paramref name="since"/>.</summary>
    public async Task<(long Pending, long Failed)> DeliveryCountsAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed' AND finished_at >= $1) FROM alert_deliveries");
        command.Parameters.AddWithValue(since);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>
    /// Takes or renews the named lease for <paramref name="holder"/> until <paramref name="duration"/> from now (the database's clock,
    /// shared by every instance); true while this holder has it. Another instance takes it over once it expires.
    /// </summary>
    public async Task<bool> TryHoldLeaseAsync(string name, string holder, TimeSpan duration, CancellationToken cancellationToken)
    {
        await EnsureSchemaOnceAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            """
            INSERT INTO alert_leases (name, holder, expires_at) VALUES ($1, $2, now() + $3)
            ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
            WHERE alert_leases.holder = EXCLUDED.holder OR alert_leases.expires_at < now()
            RETURNING holder
            """);
        command.Parameters.AddWithValue(name);
        command.Parameters.AddWithValue(holder);
        command.Parameters.AddWithValue(duration);
        return await command.ExecuteScalarAsync(cancellationToken) is string;
    }

    /// <summary>Gives the lease up (an orderly stop), so another instance need not wait for it to expire.</summary>
    public async Task ReleaseLeaseAsync(string name, string holder, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("DELETE FROM alert_leases WHERE name = $1 AND holder = $2");
        command.Parameters.AddWithValue(name);
        command.Parameters.AddWithValue(holder);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private Task EnsureSchemaOnceAsync(CancellationToken cancellationToken) => _schema.ApplyOnceAsync(cancellationToken);

    private const string Schema =
        """
        CREATE TABLE IF NOT EXISTS alert_rules (
            id bigserial PRIMARY KEY,
            name text NOT NULL,
            tenant_id text REFERENCES tenants (id),
            metric text NOT NULL,
            window_spec text,
            event_name text,
            condition text NOT NULL,
            compare_to text,
            threshold double precision NOT NULL,
            every_seconds integer NOT NULL,
            for_seconds integer NOT NULL,
            webhook_url text NOT NULL,
            webhook_format text NOT NULL,
            -- Kept as is: signing needs it (like any webhook sender); it is shown once, when the rule is made.
            secret text NOT NULL,
            created_at timestamptz NOT NULL,
            state text NOT NULL DEFAULT 'ok',
            state_since timestamptz,
            last_value double precision,
            last_baseline double precision,
            evaluated_at timestamptz,
            last_error text
        );
        CREATE INDEX IF NOT EXISTS alert_rules_tenant ON alert_rules (tenant_id);
        CREATE TABLE IF NOT EXISTS alert_deliveries (
            id bigserial PRIMARY KEY,
            rule_id bigint NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
            event text NOT NULL CHECK (event IN ('firing', 'resolved')),
            body text NOT NULL,
            status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            last_status_code integer,
            last_error text,
            created_at timestamptz NOT NULL,
            next_attempt_at timestamptz NOT NULL,
            finished_at timestamptz
        );
        CREATE INDEX IF NOT EXISTS alert_deliveries_pending ON alert_deliveries (rule_id, id) WHERE status = 'pending';
        CREATE INDEX IF NOT EXISTS alert_deliveries_rule ON alert_deliveries (rule_id, id DESC);
        CREATE TABLE IF NOT EXISTS alert_leases (
            name text PRIMARY KEY,
            holder text NOT NULL,
            expires_at timestamptz NOT NULL
        );
        """;

    private static async Task<List<AlertRule>> ReadRulesAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var rules = new List<AlertRule>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var state = new AlertState(reader.GetString(15), Nullable<DateTimeOffset>(reader, 16), Nullable<double>(reader, 17), Nullable<double>(reader, 18),
                Nullable<DateTimeOffset>(reader, 19), reader.IsDBNull(20) ? null : reader.GetString(20));
            rules.Add(new AlertRule(reader.GetInt64(0), reader.GetString(1), Text(reader, 2), reader.GetString(3), Text(reader, 4), Text(reader, 5), reader.GetString(6),
                Text(reader, 7), reader.GetDouble(8), TimeSpan.FromSeconds(reader.GetInt32(9)), TimeSpan.FromSeconds(reader.GetInt32(10)), reader.GetString(11),
                reader.GetString(12), reader.GetString(13), reader.GetFieldValue<DateTimeOffset>(14), state));
        }

        return rules;
    }

    private static async Task<List<AlertDelivery>> ReadDeliveriesAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var deliveries = new List<AlertDelivery>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            deliveries.Add(new AlertDelivery(reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4),
                Nullable<int>(reader, 5), Text(reader, 6), reader.GetFieldValue<DateTimeOffset>(7), reader.GetFieldValue<DateTimeOffset>(8), Nullable<DateTimeOffset>(reader, 9)));
        }

        return deliveries;
    }

    private static string? Text(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static T? Nullable<T>(NpgsqlDataReader reader, int ordinal) where T : struct => reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<T>(ordinal);

    private static void AddNullable<T>(NpgsqlCommand command, T? value) where T : struct =>
        command.Parameters.Add(new NpgsqlParameter { Value = value.HasValue ? value.Value : DBNull.Value });

    private static void AddNullable(NpgsqlCommand command, string? value) =>
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)value ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
}
