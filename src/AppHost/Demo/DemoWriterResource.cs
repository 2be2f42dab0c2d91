using AppHost.Lifecycle;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AppHost.Demo;

/// <summary>
/// Changes the demo product's rows every few seconds while the AppHost runs (a signup, a plan change,
/// a seat change, a cancellation, now and then a deleted user), so a newcomer sees the CDC bridge
/// replicate inserts, updates and deletes into <c>cdc_*</c> tables. It stops with the AppHost; a
/// change that fails (PostgreSQL restarting) is logged and the next one is tried on schedule.
/// </summary>
public sealed class DemoWriterResource(string name, IResourceWithConnectionString database, TimeSpan interval) : AppHostTaskResource(name)
{
    private long _step;

    public int Changes { get; private set; }

    protected override async Task RunAsync(ILogger logger, CancellationToken cancellationToken)
    {
        await using var dataSource = NpgsqlDataSource.Create((await database.GetConnectionStringAsync(cancellationToken))!);
        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                var change = await ChangeOnceAsync(dataSource, _step++, cancellationToken);
                Changes++;
                logger.LogInformation("{Change}", change);
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                logger.LogWarning("A demo change failed, trying again in {Seconds:0} s: {Message}", interval.TotalSeconds, ex.Message);
            }
        }
    }

    /// <summary>One change to the demo product, chosen by <paramref name="step"/> in a fixed rotation; returns what it did.</summary>
    public static async Task<string> ChangeOnceAsync(NpgsqlDataSource dataSource, long step, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var what = (step % 5) switch
        {
            0 => await SignupAsync(connection, cancellationToken),
            1 => await ChangePlanAsync(connection, step, cancellationToken),
            2 => await ChangeSeatsAsync(connection, step, cancellationToken),
            3 => await CancelAsync(connection, cancellationToken),
            _ => await DeleteSignupAsync(connection, cancellationToken),
        };
        await transaction.CommitAsync(cancellationToken);
        return what;
    }

    /// <summary>A new free account with its first user, in one transaction.</summary>
    private static async Task<string> SignupAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var id = (long)(await ScalarAsync(connection, "SELECT coalesce(max(id), 0) + 1 FROM accounts", cancellationToken))!;
        await ExecuteAsync(connection, "INSERT INTO accounts (id, name, plan, seats) VALUES ($1, $2, 'free', 1)", cancellationToken, id, $"Account {id}");
        await ExecuteAsync(connection, "INSERT INTO users (id, account_id, email, signup_at, country) VALUES ($1, $2, $3, now(), 'DE')",
            cancellationToken, $"signup-{id}", id, $"signup-{id}@example.com");
        return $"signup: account {id} (free) with user signup-{id}";
    }

    /// <summary>Moves an account one plan up (or back to team from enterprise), replacing its active subscription.</summary>
    private static async Task<string> ChangePlanAsync(NpgsqlConnection connection, long step, CancellationToken cancellationToken)
    {
        if (await PickAccountAsync(connection, "TRUE", step, cancellationToken) is not { } account)
        {
            return "plan change: no account yet";
        }

        var (id, plan, seats) = account;
        var plans = ProductSchemaResource.Plans;
        var index = plans.Select(p => p.Plan).ToList().IndexOf(plan);
        var next = index < 0 || index == plans.Count - 1 ? plans[1] : plans[index + 1];
        await ExecuteAsync(connection, "UPDATE accounts SET plan = $2, updated_at = now() WHERE id = $1", cancellationToken, id, next.Plan);
        await ExecuteAsync(connection, "UPDATE subscriptions SET status = 'cancelled', ended_at = now() WHERE account_id = $1 AND status = 'active'", cancellationToken, id);
        await ExecuteAsync(connection,
            "INSERT INTO subscriptions (id, account_id, plan, mrr_cents, status, started_at) SELECT coalesce(max(id), 0) + 1, $1, $2, $3, 'active', now() FROM subscriptions",
            cancellationToken, id, next.Plan, next.SeatCents * seats);
        return $"plan change: account {id} {plan} -> {next.Plan}";
    }

    private static async Task<string> ChangeSeatsAsync(NpgsqlConnection connection, long step, CancellationToken cancellationToken)
    {
        if (await PickAccountAsync(connection, "plan <> 'free'", step, cancellationToken) is not { } account)
        {
            return "seat change: no paying account yet";
        }

        var (id, plan, seats) = account;
        var newSeats = step % 2 == 0 || seats <= 1 ? seats + 1 : seats - 1;
        var seatCents = ProductSchemaResource.Plans.FirstOrDefault(p => p.Plan == plan).SeatCents;
        await ExecuteAsync(connection, "UPDATE accounts SET seats = $2, updated_at = now() WHERE id = $1", cancellationToken, id, newSeats);
        await ExecuteAsync(connection, "UPDATE subscriptions SET mrr_cents = $2 WHERE account_id = $1 AND status = 'active'", cancellationToken, id, seatCents * newSeats);
        return $"seat change: account {id} {seats} -> {newSeats} seats";
    }

    /// <summary>Cancels a paying account's subscription; the account falls back to free.</summary>
    private static async Task<string> CancelAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var id = await ScalarAsync(connection, "SELECT account_id FROM subscriptions WHERE status = 'active' ORDER BY started_at LIMIT 1", cancellationToken);
        if (id is not long accountId)
        {
            return "cancellation: no active subscription";
        }

        await ExecuteAsync(connection, "UPDATE subscriptions SET status = 'cancelled', ended_at = now() WHERE account_id = $1 AND status = 'active'", cancellationToken, accountId);
        await ExecuteAsync(connection, "UPDATE accounts SET plan = 'free', seats = 1, updated_at = now() WHERE id = $1", cancellationToken, accountId);
        return $"cancellation: account {accountId} is free again";
    }

    /// <summary>Erases the oldest user a demo signup created once there are more than three (a delete to replicate); seeded users stay.</summary>
    private static async Task<string> DeleteSignupAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var id = await ScalarAsync(connection, """
            DELETE FROM users
            WHERE id = (SELECT id FROM users WHERE id LIKE 'signup-%' ORDER BY signup_at, id LIMIT 1)
              AND (SELECT count(*) FROM users WHERE id LIKE 'signup-%') > 3
            RETURNING id
            """, cancellationToken);
        return id is string user ? $"user deleted: {user}" : "user deleted: none yet (signups are kept until there are more than three)";
    }

    private static async Task<(long Id, string Plan, int Seats)?> PickAccountAsync(NpgsqlConnection connection, string where, long step, CancellationToken cancellationToken)
    {
        // `where` is one of this class's constants, never input.
        await using var command = new NpgsqlCommand($"SELECT id, plan, seats FROM accounts WHERE {where} ORDER BY id OFFSET $1 % greatest((SELECT count(*) FROM accounts WHERE {where}), 1) LIMIT 1", connection)
        {
            Parameters = { new NpgsqlParameter { Value = step } },
        };
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2)) : null;
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync(cancellationToken);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
