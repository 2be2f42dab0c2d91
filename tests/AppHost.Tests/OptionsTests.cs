namespace AppHost.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void TheCommandLineShorthandsBecomeConfiguration()
    {
        var expanded = PlatformOptions.ExpandArguments(["--state", "/tmp/x", "--fresh", "--no-demo", "--Demo:WriterIntervalSeconds=2"]);

        Assert.Equal(["--Platform:StateDirectory=/tmp/x", "--Platform:Fresh=true", "--Platform:Demo=false", "--Demo:WriterIntervalSeconds=2"], expanded);
    }

    [Fact]
    public void FixedPortsAreUsedWhenFreeAndNeverHandedOutTwice()
    {
        var options = new PlatformOptions { StateDirectory = "/tmp/unused", FixedPorts = true };
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var busy = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;

        var first = options.Port(busy);
        var second = options.Port(busy);

        Assert.NotEqual(busy, first);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void TestsGetKernelPickedPortsOnly()
    {
        var options = new PlatformOptions { StateDirectory = "/tmp/unused", FixedPorts = false };

        Assert.NotEqual(18123, options.Port(18123));
    }

    [Fact]
    public void SecretsAreGeneratedOnceAndKeptInTheStateFolder()
    {
        var state = Path.Combine(Path.GetTempPath(), "secrets-" + Guid.NewGuid().ToString("N"));
        try
        {
            var options = new PlatformOptions { StateDirectory = state };
            var first = options.Secret("admin-token");

            Assert.Equal(64, first.Length);
            Assert.Equal(first, new PlatformOptions { StateDirectory = state }.Secret("admin-token"));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(state, "secrets", "admin-token")));
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}
