using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>The admin path: tenants, settings and keys, behind the generated admin token.</summary>
[Collection(PlatformCollection.Name)]
public class AdminApiTests(PlatformFixture platform)
{
    private HttpClient Admin(string? token = null)
    {
        var client = platform.CreateHttpClient("collector");
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token ?? platform.AdminToken);
        return client;
    }

    [Fact]
    public async Task ATenantCreatedThroughTheAdminPathCanSendEventsUntilItsKeyIsRevoked()
    {
        using var admin = Admin();
        var id = "adm-" + Guid.NewGuid().ToString("N")[..10];

        using var created = await admin.PostAsync("/admin/v1/tenants", Http.Json($$"""{ "id": "{{id}}", "name": "Acme" }"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var tenant = await created.ReadObjectAsync();
        Assert.Equal(id, (string)tenant["id"]!);
        Assert.Equal("hash", (string)tenant["settings"]!["pii_properties"]!["email"]!);

        using var issued = await admin.PostAsync($"/admin/v1/tenants/{id}/keys", Http.Json("""{ "kind": "write" }"""));
        Assert.Equal(HttpStatusCode.Created, issued.StatusCode);
        var key = await issued.ReadObjectAsync();
        var writeKey = (string)key["key"]!;
        Assert.StartsWith("wk_", writeKey);

        using var collector = platform.CreateCollectorClient(writeKey);
        using (var accepted = await collector.PostAsync("/v1/events", Http.Json(Http.Event("e", "u1"))))
        {
            Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        }

        var listed = await admin.GetFromJsonAsync<JsonObject>($"/admin/v1/tenants/{id}");
        var listedKey = listed!["keys"]!.AsArray().Single()!;
        Assert.Equal((string)key["id"]!, (string)listedKey["id"]!);
        Assert.DoesNotContain(writeKey, listed.ToJsonString());

        using var revoked = await admin.DeleteAsync($"/admin/v1/tenants/{id}/keys/{key["id"]}");
        Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
        using var refused = await collector.PostAsync("/v1/events", Http.Json(Http.Event("e", "u1")));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("Unknown write key", (string)(await refused.ReadObjectAsync())["title"]!);
        using var again = await admin.DeleteAsync($"/admin/v1/tenants/{id}/keys/{key["id"]}");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
    }

    public static TheoryData<string, string, string, string, int, string> BadRequests => new()
    {
        // name, method, path, body, status, title
        { "bad tenant id", "POST", "/admin/v1/tenants", """{ "id": "Bad Id!", "name": "x" }""", 400, "Invalid tenant id" },
        { "missing name", "POST", "/admin/v1/tenants", """{ "id": "ok-id" }""", 400, "Malformed JSON" },
        { "unknown field", "POST", "/admin/v1/tenants", """{ "id": "ok-id", "name": "x", "nmae": "y" }""", 400, "Malformed JSON" },
        { "malformed JSON", "POST", "/admin/v1/tenants", """{ "id": """, 400, "Malformed JSON" },
        { "duplicate tenant", "POST", "/admin/v1/tenants", """{ "id": "demo", "name": "again" }""", 409, "Tenant exists" },
        { "bad key kind", "POST", "/admin/v1/tenants/demo/keys", """{ "kind": "admin" }""", 400, "Invalid key kind" },
        { "keys of an unknown tenant", "POST", "/admin/v1/tenants/nobody/keys", """{ "kind": "read" }""", 404, "No such tenant" },
        { "settings of an unknown tenant", "PUT", "/admin/v1/tenants/nobody/settings", """{ "hash_user_ids": true }""", 404, "No such tenant" },
        { "a zero rate limit", "PUT", "/admin/v1/tenants/demo/settings", """{ "events_per_second": 0 }""", 400, "Invalid settings" },
        { "an unknown PII action", "PUT", "/admin/v1/tenants/demo/settings", """{ "pii_properties": { "email": "encrypt" } }""", 400, "Malformed JSON" },
        { "revoking a malformed key id", "DELETE", "/admin/v1/tenants/demo/keys/'; DROP TABLE api_keys; --", "", 404, "No such key" },
        { "an unknown tenant", "GET", "/admin/v1/tenants/nobody", "", 404, "No such tenant" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadAdminRequestsGetPreciseProblems(string name, string method, string path, string body, int status, string title)
    {
        using var admin = Admin();
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = body.Length > 0 ? Http.Json(body) : null };

        using var response = await admin.SendAsync(request);

        var problem = await response.ReadObjectAsync();
        Assert.True(status == (int)response.StatusCode, $"{name}: {(int)response.StatusCode} {problem}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(title, (string)problem["title"]!);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not-the-admin-token-but-long-enough")]
    public async Task TheAdminPathNeedsTheAdminToken(string? token)
    {
        using var client = token is null ? platform.CreateHttpClient("collector") : Admin(token);

        using var response = await client.GetAsync("/admin/v1/tenants/demo");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Admin token required", (string)(await response.ReadObjectAsync())["title"]!);
    }

    [Fact]
    public async Task AWriteKeyIsNotAnAdminToken()
    {
        using var response = await Admin(platform.Demo.WriteKey).GetAsync("/admin/v1/tenants/demo");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public void TheAdminTokenIsInEndpointsJson() => Assert.Equal(platform.AdminToken, (string)platform.Endpoints["admin_token"]!);
}
