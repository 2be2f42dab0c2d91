using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using AppHost;
using AppHost.Demo;
using Aspire.Hosting;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Platform.Tenancy;
using Xunit;

namespace Platform.Testing;

/// <summary>
/// Starts the AppHost's own model (src/AppHost/Program.cs) with Aspire.Hosting.Testing, on an isolated
/// state folder and free ports, waits until every service is healthy, and stops every process at the end.
/// </summary>
public class PlatformFixture : IAsyncLifetime
{
    private PlatformApp? _app;
    private PipelineProbe? _probe;

    public PlatformApp App => _app ?? throw new InvalidOperationException("The platform is not started.");

    public string StateDirectory { get; private set; } = "";

    public JsonObject Endpoints { get; private set; } = [];

    public DemoCredentials Demo => App.Resource<DemoDataResource>("demo").Credentials!;

    public PipelineProbe Probe => _probe ??= new PipelineProbe(App);

    /// <summary>The admin token the AppHost generated for the Collector's admin path.</summary>
    public string AdminToken => App.Secret("admin-token");

    protected virtual bool WithDemoData => true;

    /// <summary>The AppHost's configuration, e.g. <c>ConnectionStrings:clickhouse</c> to use an existing server.</summary>
    protected virtual IReadOnlyDictionary<string, string?> Configuration => new Dictionary<string, string?>();

    public virtual async Task InitializeAsync()
    {
        StateDirectory = await TestState.NewDirectoryAsync(GetType().Name.ToLowerInvariant());
        _app = await StartAsync(StateDirectory, fresh: false);
        Endpoints = JsonNode.Parse(await File.ReadAllTextAsync(App.EndpointsFile))!.AsObject();
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }

        TestState.Delete(StateDirectory);
    }

    /// <summary>Starts the model on a state folder and waits until it is ready (endpoints.json written); the caller owns the result.</summary>
    public async Task<PlatformApp> StartAsync(string stateDirectory, bool fresh)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        return await PlatformApp.StartAsync(stateDirectory, fresh, WithDemoData, Configuration, timeout.Token);
    }

    public HttpClient CreateHttpClient(string resource) => CreateHttpClient(App, resource);

    /// <summary>What the resource has logged so far.</summary>
    public string LogOf(string resource) => App.LogOf(resource);

    public static HttpClient CreateHttpClient(PlatformApp app, string resource) =>
        new() { BaseAddress = new Uri(app[resource].Url!), Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>A client for the Collector that sends this write key as Segment does (Basic, key as user name).</summary>
    public HttpClient CreateCollectorClient(string writeKey) => CreateCollectorClient(App, writeKey);

    public static HttpClient CreateCollectorClient(PlatformApp app, string writeKey)
    {
        var client = CreateHttpClient(app, "collector");
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(writeKey + ":")));
        return client;
    }

    public HttpClient CreateApiClient(string readKey) => CreateApiClient(App, readKey);

    public static HttpClient CreateApiClient(PlatformApp app, string readKey)
    {
        var client = CreateHttpClient(app, "api");
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", readKey);
        return client;
    }

    /// <summary>Creates a tenant with a write and a read key, as the admin path will.</summary>
    public Task<TestTenant> CreateTenantAsync(string? id = null) => CreateTenantAsync(App, id);

    public static async Task<TestTenant> CreateTenantAsync(PlatformApp app, string? id = null)
    {
        id ??= "t-" + Guid.NewGuid().ToString("N")[..12];
        await using var dataSource = NpgsqlDataSource.Create(app["platform"].ConnectionString!);
        var tenants = new TenantDirectory(dataSource, TimeProvider.System);
        await tenants.CreateTenantAsync(id, "Test tenant " + id);
        return new TestTenant(id, await tenants.IssueKeyAsync(id, ApiKeyKind.Write), await tenants.IssueKeyAsync(id, ApiKeyKind.Read));
    }
}

public sealed record TestTenant(string Id, string WriteKey, string ReadKey);

/// <summary>Polls until a condition holds, for effects that cross the asynchronous pipeline.</summary>
public static class Eventually
{
    public static async Task<T> MatchesAsync<T>(Func<Task<T>> read, Func<T, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        T value;
        do
        {
            value = await read();
            if (condition(value))
            {
                return value;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);

        return value;
    }
}
