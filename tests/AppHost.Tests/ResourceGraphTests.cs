using AppHost.Hosting;

namespace AppHost.Tests;

public class ResourceGraphTests
{
    [Fact]
    public void StartOrderPutsEveryResourceAfterWhatItWaitsForAndReferences()
    {
        var builder = ModelBuilder.Create();
        builder.AddPlatform();

        var order = ResourceGraph.StartOrder(builder.Resources).Select(r => r.Name).ToList();

        foreach (var resource in builder.Resources)
        {
            foreach (var dependency in resource.WaitsFor.Concat(resource.References))
            {
                Assert.True(order.IndexOf(dependency.Name) < order.IndexOf(resource.Name), $"{resource.Name} must come after {dependency.Name}");
            }
        }
    }

    [Fact]
    public void ServicesWaitForTheInfrastructureTheyUse()
    {
        var builder = ModelBuilder.Create();
        builder.AddPlatform();
        var byName = builder.Resources.ToDictionary(r => r.Name);

        Assert.Contains(byName["clickhouse"], byName["ingestor"].WaitsFor);
        Assert.Contains(byName["kafka"], byName["ingestor"].WaitsFor);
        Assert.Contains(byName["kafka"], byName["collector"].WaitsFor);
        // The Ingestor owns the ClickHouse schema: readers start after it is healthy.
        Assert.Contains(byName["ingestor"], byName["api"].WaitsFor);
        Assert.Contains(byName["ingestor"], byName["transformer"].WaitsFor);
        Assert.Contains(byName["postgres"], byName["platform"].WaitsFor);
        // The CDC bridge's publication names the demo product's tables: they exist before the Ingestor starts.
        Assert.Contains(byName["app-schema"], byName["ingestor"].WaitsFor);
        Assert.Contains(byName["app"], byName["app-schema"].WaitsFor);
        Assert.Contains(byName["app-schema"], byName["demo-writer"].WaitsFor);
    }

    [Fact]
    public void WithoutDemoDataTheProductTablesAreCreatedButNeitherSeededNorWritten()
    {
        var builder = ModelBuilder.Create(demo: false);
        builder.AddPlatform();

        var schema = Assert.Single(builder.Resources.OfType<ProductSchemaResource>());
        Assert.Contains(schema, builder.Resources.Single(r => r.Name == "ingestor").WaitsFor);
        Assert.DoesNotContain(builder.Resources, r => r is DemoWriterResource);
    }

    [Fact]
    public void StopOrderIsTheReverseOfStartOrder()
    {
        var builder = ModelBuilder.Create();
        builder.AddPlatform();
        var start = ResourceGraph.StartOrder(builder.Resources);

        var stop = ResourceGraph.StopOrder(start).Select(r => r.Name).ToList();

        Assert.Equal(start.Select(r => r.Name).Reverse(), stop);
        Assert.True(stop.IndexOf("api") < stop.IndexOf("clickhouse"));
        Assert.True(stop.IndexOf("collector") < stop.IndexOf("kafka"));
    }

    [Fact]
    public void ACycleIsRefusedWithItsPath()
    {
        var builder = ModelBuilder.Create();
        var a = builder.AddProject("a", "A", 0);
        var b = builder.AddProject("b", "B", 0).WaitFor(a);
        a.WaitFor(b);

        var error = Assert.Throws<InvalidOperationException>(() => ResourceGraph.StartOrder(builder.Resources));

        Assert.Contains("a -> b -> a", error.Message);
    }

    [Fact]
    public void ADependencyOutsideTheModelIsRefused()
    {
        var builder = ModelBuilder.Create();
        var stranger = new KafkaResource("stranger");
        builder.AddProject("a", "A", 0).WithReference(stranger);

        var error = Assert.Throws<InvalidOperationException>(() => ResourceGraph.StartOrder(builder.Resources));

        Assert.Contains("'stranger'", error.Message);
    }

    [Fact]
    public void TwoResourcesCannotShareAName()
    {
        var builder = ModelBuilder.Create();
        builder.AddKafka("kafka");

        Assert.Throws<InvalidOperationException>(() => builder.AddKafka("kafka"));
    }
}
