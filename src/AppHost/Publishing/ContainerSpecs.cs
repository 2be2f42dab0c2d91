using AppHost.Hosting;

namespace AppHost.Publishing;

/// <summary>
/// What the infrastructure containers run, shared by docker-compose and Kubernetes so both deploy the
/// same servers configured the same way as the local AppHost runs them.
/// </summary>
public static class ContainerSpecs
{
    // Production runs a current ClickHouse; the SQL the project ships also runs on the local 18.16 server.
    public const string ClickHouseImage = "clickhouse/clickhouse-server:25.8";
    public const string PostgresImage = "postgres:15";
    public const string KafkaImage = "apache/kafka:3.9.1";

    public const string ClickHouseDataPath = "/var/lib/clickhouse";
    public const string PostgresDataPath = "/var/lib/postgresql/data";
    public const string PostgresInitPath = "/docker-entrypoint-initdb.d";
    public const string KafkaDataPath = "/var/lib/kafka/data";

    /// <summary>The file the postgres image runs once, on an empty data folder, to create the model's databases.</summary>
    public const string PostgresInitFile = "01-databases.sql";

    /// <summary>Shared by every service image: <c>deploy/Dockerfile</c>, built with <c>PROJECT=&lt;ProjectName&gt;</c>.</summary>
    public const string ServiceDockerfile = "deploy/Dockerfile";

    public static string ServiceImage(ProjectResource project) => $"platform/{project.Name}:latest";

    /// <summary>The same server settings the AppHost starts PostgreSQL with: logical replication for the change feed.</summary>
    public static IReadOnlyList<string> PostgresArguments { get; } =
        ["-c", "wal_level=logical", "-c", "max_wal_senders=16", "-c", "max_replication_slots=16"];

    public static string PostgresInitSql(PostgresServerResource server, IEnumerable<PostgresDatabaseResource> databases) =>
        $"-- {Generated.Notice}\n-- The databases of '{server.Name}'; the postgres image runs this once, on an empty data folder.\n"
        + string.Concat(databases.Select(d => $"CREATE DATABASE \"{d.Name.Replace("\"", "\"\"", StringComparison.Ordinal)}\";\n"));

    /// <summary>The database to create and the user services log in as; the password (<c>CLICKHOUSE_PASSWORD</c>) each publisher adds its own way.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> ClickHouseEnvironment(ClickHouseResource clickhouse) =>
    [
        new("CLICKHOUSE_DB", clickhouse.Database),
        new("CLICKHOUSE_USER", "default"),
    ];

    /// <summary>
    /// A single-node KRaft broker (broker and controller in one process). <paramref name="advertisedHost"/>
    /// is the name clients reach this broker by; topics are auto-created with 4 partitions, like the local mock cluster.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> KafkaEnvironment(string advertisedHost) =>
    [
        new("KAFKA_NODE_ID", "1"),
        new("KAFKA_PROCESS_ROLES", "broker,controller"),
        new("KAFKA_LISTENERS", $"PLAINTEXT://:{ContainerPorts.Kafka},CONTROLLER://:{ContainerPorts.KafkaController}"),
        new("KAFKA_ADVERTISED_LISTENERS", $"PLAINTEXT://{advertisedHost}:{ContainerPorts.Kafka}"),
        new("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER"),
        new("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"),
        new("KAFKA_CONTROLLER_QUORUM_VOTERS", $"1@{advertisedHost}:{ContainerPorts.KafkaController}"),
        new("KAFKA_LOG_DIRS", KafkaDataPath + "/logs"),
        new("KAFKA_NUM_PARTITIONS", "4"),
        new("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1"),
        new("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1"),
        new("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"),
        new("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
    ];
}
