using AppHost.Lifecycle;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace AppHost.Demo;

/// <summary>
/// A one-shot task: creates the demo product's tables (accounts, users, subscriptions) in the
/// <c>app</c> database, which the CDC bridge replicates, and with <paramref name="seed"/> fills them
/// with a few accounts and one user per demo event user (<c>user-00</c>..<c>user-24</c>). Both are
/// idempotent (IF NOT EXISTS, ON CONFLICT DO NOTHING), so a restart keeps what the demo writer changed.
/// The Ingestor waits for it: the bridge's publication names tables that must exist.
/// </summary>
public sealed class ProductSchemaResource(string name, IResourceWithConnectionString database, bool seed) : AppHostTaskResource(name)
{
    /// <summary>The demo product's plans, cheapest first, and each plan's monthly price per seat.</summary>
    public static readonly IReadOnlyList<(string Plan, long SeatCents)> Plans =
        [("free", 0), ("team", 1_500), ("business", 4_000), ("enterprise", 9_000)];

    public const int SeedAccounts = 8;

    public const int SeedUsers = 25;

    public const string Schema = """
        CREATE TABLE IF NOT EXISTS accounts (
            id bigint PRIMARY KEY,
            name text NOT NULL,
            plan text NOT NULL,
            seats int NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now());
        CREATE TABLE IF NOT EXISTS users (
            id text PRIMARY KEY,
            account_id bigint NOT NULL REFERENCES accounts,
            email text NOT NULL,
            signup_at timestamptz NOT NULL,
            country text);
        CREATE TABLE IF NOT EXISTS subscriptions (
            id bigint PRIMARY KEY,
            account_id bigint NOT NULL REFERENCES accounts,
            plan text NOT NULL,
            mrr_cents bigint NOT NULL,
            status text NOT NULL,
            started_at timestamptz NOT NULL,
            ended_at timestamptz);
        """;

    public bool Seeded { get; private set; }

    public override string? Summary => $"demo product tables in {database.Name}{(Seeded ? ", seeded" : "")}";

    protected override async Task RunAsync(ILogger logger, CancellationToken cancellationToken)
    {
        await CreateAsync((await database.GetConnectionStringAsync(cancellationToken))!, seed, cancellationToken);
        Seeded = seed;
        logger.LogInformation("Demo product tables ready in database {Database}{Seeded}.", database.Name, seed ? " (seeded)" : "");
    }

    /// <summary>Creates the tables (and with <paramref name="seed"/> the demo rows) when missing.</summary>
    public static async Task CreateAsync(string connectionString, bool seed, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var create = new NpgsqlCommand(Schema, connection, transaction))
        {
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        if (seed)
        {
            await using var batch = new NpgsqlBatch(connection, transaction);
            foreach (var command in SeedCommands())
            {
                batch.BatchCommands.Add(command);
            }

            await batch.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Accounts 1..8 across the plans, users user-00..user-24 spread over them, an active subscription per paying account.</summary>
    public static IEnumerable<NpgsqlBatchCommand> SeedCommands()
    {
        for (var id = 1; id <= SeedAccounts; id++)
        {
            var (plan, seatCents) = Plans[id % Plans.Count];
            var seats = plan == "free" ? 1 : 2 + id * 3 % 10;
            yield return Command(
                "INSERT INTO accounts (id, name, plan, seats, created_at, updated_at) VALUES ($1, $2, $3, $4, now() - make_interval(days => $5), now()) ON CONFLICT DO NOTHING",
                (long)id, $"Account {id}", plan, seats, 90 - id);
            if (plan != "free")
            {
                yield return Command(
                    "INSERT INTO subscriptions (id, account_id, plan, mrr_cents, status, started_at) VALUES ($1, $1, $2, $3, 'active', now() - make_interval(days => $4)) ON CONFLICT DO NOTHING",
                    (long)id, plan, seatCents * seats, 80 - id);
            }
        }

        string[] countries = ["DE", "US", "FR", "JP", "BR"];
        for (var i = 0; i < SeedUsers; i++)
        {
            yield return Command(
                "INSERT INTO users (id, account_id, email, signup_at, country) VALUES ($1, $2, $3, now() - make_interval(days => $4), $5) ON CONFLICT DO NOTHING",
                $"user-{i:00}", (long)(i % SeedAccounts + 1), $"user-{i:00}@example.com", 60 - i, countries[i % countries.Length]);
        }
    }

    private static NpgsqlBatchCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return command;
    }
}
