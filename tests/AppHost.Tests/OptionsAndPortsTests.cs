using System.Net;
using System.Net.Sockets;
using AppHost.Hosting;

namespace AppHost.Tests;

public class OptionsAndPortsTests
{
    [Fact]
    public void CommandLineOptionsAreParsedAndTheRestIsConfiguration()
    {
        var (options, rest) = AppHostOptions.Parse(["--state", "/tmp/x", "--fresh", "--no-demo", "--ConnectionStrings:kafka=b:9092"], "/default");

        Assert.Equal("/tmp/x", options.StateDirectory);
        Assert.True(options.Fresh);
        Assert.False(options.Demo);
        Assert.Equal(["--ConnectionStrings:kafka=b:9092"], rest);
    }

    [Fact]
    public void DefaultsKeepDataAndCreateDemoData()
    {
        var (options, rest) = AppHostOptions.Parse([], "/default/.platform");

        Assert.Equal("/default/.platform", options.StateDirectory);
        Assert.False(options.Fresh);
        Assert.True(options.Demo);
        Assert.Empty(rest);
    }

    [Fact]
    public void AFreePreferredPortIsUsedAndABusyOneIsReplaced()
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var busyPort = ((IPEndPoint)busy.LocalEndpoint).Port;
        var allocator = new PortAllocator(preferFixedPorts: true);
        var freePort = new PortAllocator(false).Allocate(0);

        Assert.Equal(freePort, allocator.Allocate(freePort));
        Assert.NotEqual(busyPort, allocator.Allocate(busyPort));
    }

    [Fact]
    public void TestPortsAreNeverTheFixedOnesAndNeverRepeat()
    {
        var allocator = new PortAllocator(preferFixedPorts: false);

        var ports = Enumerable.Range(0, 20).Select(_ => allocator.Allocate(ClickHouseResource.DefaultHttpPort)).ToList();

        Assert.Equal(20, ports.Distinct().Count());
        Assert.DoesNotContain(ClickHouseResource.DefaultHttpPort, ports);
    }

    [Fact]
    public void AMissingProgramNamesTheDebianPackageToInstall()
    {
        var error = Assert.Throws<MissingDependencyException>(() => Probe.FindProgram("clickhouse-server", "no-such-program-xyz", "/no/such/path"));

        Assert.Contains("apt-get install -y clickhouse-server", error.Message);
    }
}

public class DemoDataTests
{
    [Fact]
    public void DemoEventsCoverTheLastDayAndNoneLiesInTheFuture()
    {
        var now = new DateTimeOffset(2026, 11, 21, 20, 15, 22, TimeSpan.Zero);

        var events = DemoDataResource.GenerateEvents(now).ToList();
        var times = events.Select(e => DateTimeOffset.Parse((string)e["timestamp"]!, System.Globalization.CultureInfo.InvariantCulture)).ToList();

        Assert.Equal(480, events.Count);
        Assert.Equal(480, events.Select(e => (string)e["event_id"]!).Distinct().Count());
        Assert.All(times, t => Assert.True(t <= now, $"{t} is after {now}"));
        Assert.True(now - times.Min() <= TimeSpan.FromDays(1), "the demo spans one day");
    }

    [Fact]
    public void TheSameSlotsGiveTheSameEventIdsSoResendingAddsNothing()
    {
        var first = DemoDataResource.GenerateEvents(new DateTimeOffset(2026, 11, 21, 20, 15, 22, TimeSpan.Zero)).Select(e => e.ToJsonString()).ToHashSet();
        var again = DemoDataResource.GenerateEvents(new DateTimeOffset(2026, 11, 21, 20, 29, 59, TimeSpan.Zero)).Select(e => e.ToJsonString()).ToHashSet();

        Assert.Equal(first, again);
    }
}
