using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Platform.ClickHouse;

/// <summary>One versioned schema change: <c>0001_raw_events.sql</c> is version 1.</summary>
public sealed record ClickHouseMigration(int Version, string Name, string Sql)
{
    public string Checksum => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Sql)))[..16];

    /// <summary>Reads embedded <c>*.sql</c> resources named <c>NNNN_name.sql</c> from an assembly, in version order.</summary>
    public static IReadOnlyList<ClickHouseMigration> FromAssembly(Assembly assembly, string folder = "Migrations")
    {
        var migrations = new List<ClickHouseMigration>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.Contains($".{folder}.", StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal)))
        {
            var fileName = resource[(resource.IndexOf($".{folder}.", StringComparison.Ordinal) + folder.Length + 2)..^4];
            var separator = fileName.IndexOf('_', StringComparison.Ordinal);
            if (separator <= 0 || !int.TryParse(fileName[..separator], out var version))
            {
                throw new InvalidOperationException($"Migration '{resource}' must be named NNNN_name.sql.");
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            migrations.Add(new ClickHouseMigration(version, fileName[(separator + 1)..], reader.ReadToEnd()));
        }

        var duplicate = migrations.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"Two migrations share version {duplicate.Key}.");
        }

        return migrations.OrderBy(m => m.Version).ToList();
    }
}

/// <summary>
/// Applies versioned migrations once, in order, recording each in <c>schema_migrations</c>.
/// Statements are written to be idempotent (IF NOT EXISTS), so two replicas racing, or a crash
/// between a statement and its record, converge to the same schema.
/// </summary>
public sealed class ClickHouseMigrator(ClickHouseClient client, ILogger<ClickHouseMigrator> logger)
{
    /// <summary>
    /// Applies the migrations, retrying with backoff (200 ms doubling to 5 s) while ClickHouse is
    /// unreachable or not ready, for a service that must not start without its schema. A query error
    /// (a broken migration) is not retried. <paramref name="onRetry"/> sees each failure.
    /// </summary>
    public async Task ApplyUntilDoneAsync(IReadOnlyList<ClickHouseMigration> migrations, string component, Action<Exception>? onRetry, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                await ApplyAsync(migrations, component, cancellationToken);
                return;
            }
            catch (Exception ex) when (ex is ClickHouseUnavailableException or ClickHouseServerException { IsQueryError: false })
            {
                onRetry?.Invoke(ex);
                logger.LogWarning("ClickHouse migrations of {Component} not applied yet, retrying in {Delay}: {Error}", component, delay, ex.Message);
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    public async Task<int> ApplyAsync(IReadOnlyList<ClickHouseMigration> migrations, string component, CancellationToken cancellationToken)
    {
        var database = client.Database;
        await client.ExecuteWithoutDatabaseAsync($"CREATE DATABASE IF NOT EXISTS {database}", cancellationToken);
        await client.ExecuteAsync(
            $"""
            CREATE TABLE IF NOT EXISTS {database}.schema_migrations
            (
                component String,
                version UInt32,
                name String,
                checksum String,
                applied_at DateTime DEFAULT now()
            )
            ENGINE = ReplacingMergeTree(applied_at)
            ORDER BY (component, version)
            """, cancellationToken: cancellationToken);

        var applied = (await client.QueryScalarAsync(
                $"SELECT DISTINCT version FROM {database}.schema_migrations WHERE component = {ClickHouseSql.Literal(component)}",
                cancellationToken: cancellationToken))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(int.Parse)
            .ToHashSet();

        var count = 0;
        foreach (var migration in migrations.Where(m => !applied.Contains(m.Version)))
        {
            logger.LogInformation("Applying ClickHouse migration {Component} {Version} {Name}", component, migration.Version, migration.Name);
            foreach (var statement in SqlScript.Split(migration.Sql.Replace("{database}", database, StringComparison.Ordinal)))
            {
                await client.ExecuteAsync(statement, cancellationToken: cancellationToken);
            }

            await client.ExecuteAsync(
                $"INSERT INTO {database}.schema_migrations (component, version, name, checksum) VALUES " +
                $"({ClickHouseSql.Literal(component)}, {migration.Version}, {ClickHouseSql.Literal(migration.Name)}, {ClickHouseSql.Literal(migration.Checksum)})",
                cancellationToken: cancellationToken);
            count++;
        }

        logger.LogInformation("ClickHouse schema for {Component} is at version {Version} ({Count} applied now)",
            component, migrations.Count == 0 ? 0 : migrations[^1].Version, count);
        return count;
    }
}

/// <summary>Splits a script into statements at semicolons outside quotes and comments (the HTTP interface takes one per request).</summary>
public static class SqlScript
{
    public static IReadOnlyList<string> Split(string script)
    {
        var statements = new List<string>();
        var current = new StringBuilder();
        var quote = '\0';
        for (var i = 0; i < script.Length; i++)
        {
            var c = script[i];
            if (quote != '\0')
            {
                current.Append(c);
                if (c == '\\' && i + 1 < script.Length)
                {
                    current.Append(script[++i]);
                }
                else if (c == quote)
                {
                    quote = '\0';
                }
            }
            else if (c == '-' && i + 1 < script.Length && script[i + 1] == '-')
            {
                while (i < script.Length && script[i] != '\n')
                {
                    i++;
                }

                current.Append('\n');
            }
            else if (c is '\'' or '`' or '"')
            {
                quote = c;
                current.Append(c);
            }
            else if (c == ';')
            {
                Flush();
            }
            else
            {
                current.Append(c);
            }
        }

        Flush();
        return statements;

        void Flush()
        {
            var statement = current.ToString().Trim();
            if (statement.Length > 0)
            {
                statements.Add(statement);
            }

            current.Clear();
        }
    }
}
