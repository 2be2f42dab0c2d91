namespace AppHost.Hosting;

/// <summary>The verbs of the application model, named as .NET Aspire names them.</summary>
public static class ResourceBuilderExtensions
{
    public static ClickHouseResource AddClickHouse(this DistributedApplicationBuilder builder, string name, string database) =>
        builder.AddResource(new ClickHouseResource(name, database));

    public static PostgresServerResource AddPostgres(this DistributedApplicationBuilder builder, string name) =>
        builder.AddResource(new PostgresServerResource(name));

    public static PostgresDatabaseResource AddDatabase(this PostgresServerResource server, DistributedApplicationBuilder builder, string name) =>
        builder.AddResource(new PostgresDatabaseResource(name, server)).WaitFor(server);

    public static KafkaResource AddKafka(this DistributedApplicationBuilder builder, string name) =>
        builder.AddResource(new KafkaResource(name));

    public static ProjectResource AddProject(this DistributedApplicationBuilder builder, string name, string projectName, int preferredPort) =>
        builder.AddResource(new ProjectResource(name, projectName, preferredPort));
}
