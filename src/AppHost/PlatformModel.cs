using AppHost.Hosting;

namespace AppHost;

/// <summary>The application model: what runs, what each service is handed, and what it waits for.</summary>
public static class PlatformModel
{
    public static DistributedApplicationBuilder AddPlatform(this DistributedApplicationBuilder builder)
    {
        // Infrastructure
        var clickhouse = builder.AddClickHouse("clickhouse", database: "analytics");
        var postgres = builder.AddPostgres("postgres");
        var platformDb = postgres.AddDatabase(builder, "platform");
        var appDb = postgres.AddDatabase(builder, "app");
        var kafka = builder.AddKafka("kafka");
        // The demo product's tables in the app database, which the CDC bridge replicates (seeded with demo data on).
        var appSchema = builder.AddResource(new ProductSchemaResource("app-schema", appDb, seed: builder.Options.Demo))
            .WaitFor(appDb);

        // Services
        var ingestor = builder.AddProject("ingestor", "Ingestor", preferredPort: 5082)
            .WithReference(clickhouse).WithReference(kafka).WithReference(appDb)
            .WaitFor(clickhouse).WaitFor(kafka).WaitFor(appDb).WaitFor(appSchema);
        // The CDC bridge replicates the app database's tables (Cdc:Tables, comma-separated) for one tenant.
        var cdcTables = (builder.Configuration["Cdc:Tables"] ?? "accounts,users,subscriptions")
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        ingestor.WithEnvironment("Cdc__TenantId", () => builder.Configuration["Cdc:TenantId"] ?? DemoDataResource.TenantId);
        for (var i = 0; i < cdcTables.Length; i++)
        {
            var table = cdcTables[i];
            ingestor.WithEnvironment($"Cdc__Tables__{i}", () => table);
        }

        var collector = builder.AddProject("collector", "Collector", preferredPort: 5080)
            .WithSecret("Collector__AdminToken", "admin-token")
            // The mock broker deletes the oldest batches past ~5 MiB a partition: refuse intake before the Ingestor falls that far behind.
            .WithEnvironment("Collector__MaxPartitionBacklog", () => kafka.IsExternal ? null : "10000")
            .WithReference(kafka).WithReference(platformDb)
            .WaitFor(kafka).WaitFor(platformDb);

        var transformer = builder.AddProject("transformer", "Transformer", preferredPort: 5083)
            .WithReference(clickhouse)
            .WaitFor(ingestor);

        builder.AddProject("api", "Api", preferredPort: 5081)
            .WithSecret("Api__Jwt__SigningKey", "jwt-signing-key")
            .WithReference(clickhouse).WithReference(platformDb).WithReference(ingestor).WithReference(transformer)
            .WaitFor(ingestor).WaitFor(platformDb);

        // Demo data: a tenant, its keys and a day of events, for a newcomer to query.
        if (builder.Options.Demo)
        {
            var demo = builder.AddResource(new DemoDataResource("demo", platformDb, collector, clickhouse))
                .WaitFor(platformDb).WaitFor(collector).WaitFor(ingestor);

            // The Transformer's first build then includes the demo events, so the rollups have them at once.
            transformer.WaitFor(demo);

            // Changes to the demo product every few seconds, for the bridge to replicate while a newcomer watches.
            var interval = TimeSpan.FromSeconds(builder.Configuration.GetValue("Demo:WriterIntervalSeconds", 5.0));
            builder.AddResource(new DemoWriterResource("demo-writer", appDb, interval)).WaitFor(appSchema);
        }

        return builder;
    }
}
