using AppHost;
using AppHost.Demo;
using AppHost.Infrastructure;
using AppHost.Lifecycle;

var builder = DistributedApplication.CreateBuilder(PlatformOptions.ExpandArguments(args));
var options = builder.AddPlatformConventions();

// Infrastructure: local processes when run, containers when published, existing servers when ConnectionStrings:<name> is set.
var clickhouse = builder.AddClickHouse("clickhouse", database: "analytics", options);
var postgres = builder.AddPlatformPostgres("postgres", options);
var platformDb = postgres.AddDatabase("platform");
var appDb = postgres.AddDatabase("app");
var kafka = builder.AddKafka("kafka", topics: ["events", "events-dead-letter"]);

// The demo product's tables in the app database, which the CDC bridge replicates (seeded in demo mode).
var appSchema = builder.AddTask(new ProductSchemaResource("app-schema", appDb.Resource, seed: options.Demo))
    .WaitFor(appDb);

// Services
var adminToken = builder.AddSecret("admin-token", options);
var ingestor = builder.AddService<Projects.Ingestor>("ingestor", port: 5082, options)
    .WithReference(clickhouse).WithReference(kafka).WithReference(appDb)
    .WaitFor(clickhouse).WaitFor(kafka).WaitFor(appDb).WaitForCompletion(appSchema)
    .WithCdcTables(builder.Configuration, defaultTenant: DemoDataResource.TenantId, defaultTables: "accounts,users,subscriptions");

var collector = builder.AddService<Projects.Collector>("collector", port: 5080, options)
    .WithEnvironment("Collector__AdminToken", adminToken)
    // The dev broker deletes the oldest batches past ~5 MiB a partition: refuse intake before the Ingestor falls that far behind.
    .WithEnvironment("Collector__MaxPartitionBacklog", kafka.Resource is KafkaDevBrokerResource ? "10000" : "")
    .WithReference(kafka).WithReference(platformDb)
    .WaitFor(kafka).WaitFor(platformDb)
    .WithExternalHttpEndpoints();

var transformer = builder.AddService<Projects.Transformer>("transformer", port: 5083, options)
    .WithReference(clickhouse)
    .WaitFor(ingestor);

var api = builder.AddService<Projects.Api>("api", port: 5081, options)
    .WithEnvironment("Api__Jwt__SigningKey", builder.AddSecret("jwt-signing-key", options))
    // The alert rules' admin path shares the Collector's token; the evaluator reads the ingest lag from Kafka.
    .WithEnvironment("Api__AdminToken", adminToken)
    .WithReference(clickhouse).WithReference(platformDb).WithReference(kafka).WithReference(ingestor).WithReference(transformer).WithReference(collector)
    .WaitFor(ingestor).WaitFor(platformDb)
    .WithExternalHttpEndpoints();

// Demo data: a tenant, its keys and a day of events for a newcomer to query, and product changes for the CDC bridge.
if (options.Demo && !builder.ExecutionContext.IsPublishMode)
{
    var demo = builder.AddTask(new DemoDataResource("demo", platformDb.Resource, collector.Resource, clickhouse.Resource, options.DemoCredentialsFile))
        .WaitFor(platformDb).WaitFor(collector).WaitFor(ingestor);
    // The Transformer's first build then includes the demo events, so the rollups have them at once.
    transformer.WaitForCompletion(demo);

    var interval = TimeSpan.FromSeconds(builder.Configuration.GetValue("Demo:WriterIntervalSeconds", 5.0));
    builder.AddTask(new DemoWriterResource("demo-writer", appDb.Resource, interval)).WaitForCompletion(appSchema);
}

// Dashboards for people: Grafana with the provisioned dashboards, in deployments (no Grafana package here).
builder.AddGrafana("grafana", api);

builder.Build().Run();
