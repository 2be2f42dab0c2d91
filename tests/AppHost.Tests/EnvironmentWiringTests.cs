using AppHost.Hosting;

namespace AppHost.Tests;

public class EnvironmentWiringTests
{
    [Fact]
    public void TheApiIsHandedItsConnectionStringsAndServiceEndpointsInAspireKeyShapes()
    {
        var builder = ModelBuilder.Create();
        builder.AddPlatform();
        var context = ModelBuilder.Context(builder);
        foreach (var resource in builder.Resources.Where(r => r is not KafkaResource))
        {
            resource.AllocatePorts(context);
        }

        var postgres = (PostgresServerResource)builder.Resources.Single(r => r.Name == "postgres");
        SetServerConnection(postgres, "Host=127.0.0.1;Port=5999;Username=postgres;Password=pw;Database=postgres");
        var api = (ProjectResource)builder.Resources.Single(r => r.Name == "api");
        var ingestor = (ProjectResource)builder.Resources.Single(r => r.Name == "ingestor");

        var environment = api.BuildEnvironment(builder.Options);

        Assert.StartsWith("Endpoint=http://127.0.0.1:", environment["ConnectionStrings__clickhouse"]);
        Assert.EndsWith("Database=analytics", environment["ConnectionStrings__clickhouse"]);
        Assert.Contains("Database=platform", environment["ConnectionStrings__platform"]);
        Assert.Equal(ingestor.Url, environment["services__ingestor__http__0"]);
        Assert.Equal("api", environment["OTEL_SERVICE_NAME"]);
        Assert.Equal(api.Url, environment["ASPNETCORE_URLS"]);
        Assert.DoesNotContain("ConnectionStrings__kafka", environment.Keys);
    }

    [Fact]
    public void AServiceCannotBeHandedAnAddressThatIsNotKnownYet()
    {
        var builder = ModelBuilder.Create();
        builder.AddPlatform();
        var collector = (ProjectResource)builder.Resources.Single(r => r.Name == "collector");

        // The mock broker's port exists only once it runs; the collector waits for it for that reason.
        var error = Assert.Throws<InvalidOperationException>(() => collector.BuildEnvironment(builder.Options));

        Assert.Contains("kafka", error.Message);
    }

    [Fact]
    public void AConnectionStringInConfigurationMakesAResourceExternal()
    {
        var builder = ModelBuilder.Create(new()
        {
            ["ConnectionStrings:kafka"] = "broker-1:9092,broker-2:9092",
            ["ConnectionStrings:clickhouse"] = "Endpoint=http://warehouse:8123;Username=ingest;Password=s3cret;Database=analytics",
        });
        builder.AddPlatform();
        var context = ModelBuilder.Context(builder);
        var kafka = builder.Resources.Single(r => r.Name == "kafka");
        var clickhouse = builder.Resources.Single(r => r.Name == "clickhouse");
        var postgres = builder.Resources.Single(r => r.Name == "postgres");

        kafka.AllocatePorts(context);
        clickhouse.AllocatePorts(context);
        postgres.AllocatePorts(context);

        Assert.True(kafka.IsExternal);
        Assert.Equal("broker-1:9092,broker-2:9092", kafka.ConnectionString);
        Assert.True(clickhouse.IsExternal);
        Assert.Equal("Endpoint=http://warehouse:8123;Username=ingest;Password=s3cret;Database=analytics", clickhouse.ConnectionString);
        Assert.False(postgres.IsExternal);
    }

    [Fact]
    public void WithoutDemoDataThereIsNoDemoResource()
    {
        var builder = ModelBuilder.Create(demo: false);
        builder.AddPlatform();

        Assert.DoesNotContain(builder.Resources, r => r is DemoDataResource);
    }

    [Fact]
    public void ServicesStartFromTheirBuildOutput()
    {
        var builder = ModelBuilder.Create();
        builder.AddPlatform();

        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            Assert.True(File.Exists(project.AssemblyPath(builder.Options)), $"{project.AssemblyPath(builder.Options)} should have been built with the AppHost");
        }
    }

    private static void SetServerConnection(PostgresServerResource server, string connectionString) =>
        typeof(PostgresServerResource).GetField("_connectionString", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .SetValue(server, connectionString);
}
