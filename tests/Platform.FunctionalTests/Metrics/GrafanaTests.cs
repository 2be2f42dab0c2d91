using System.Net;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// The Grafana JSON data source under /grafana, asked exactly as the plugin asks: bodies with range
/// (from/to/raw), intervalMs, maxDataPoints, targets with refId/target/payload/datasource, and
/// adhocFilters. One tenant's known events (plus a copy, a late event and a second tenant's events
/// that must never show) give exact datapoints, tables and vocabularies.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class GrafanaTests(MetricsPlatform platform)
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static Dataset? _dataset;

    /// <summary>A UTC day a few days back: inside the 30 days the vocabulary reads, far from the clock.</summary>
    private static readonly DateTimeOffset Day = new(DateTime.UtcNow.Date.AddDays(-3), TimeSpan.Zero);

    private static DateTimeOffset At(int minute, int second) => Day.AddHours(10).AddMinutes(minute).AddSeconds(second);

    private sealed record Dataset(TestTenant Tenant, TestTenant Other);

    /// <summary>
    /// Tenant A: signup at 10:00:10 (u1 DE mobile, sent twice with one id), 10:00:40 (u2 FR desktop),
    /// 10:02:05 (u1 DE mobile); purchase at 10:01:30 (u2 FR desktop), 10:04:59 (u3 DE desktop);
    /// page_view two days earlier (u1 US). Tenant B: 5 signups from JP and its own event name.
    /// </summary>
    private async Task<Dataset> DatasetAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_dataset is not null)
            {
                return _dataset;
            }

            var tenant = await platform.CreateTenantAsync();
            var other = await platform.CreateTenantAsync();
            var copy = TestEvents.Track("signup", "u1", At(0, 10), id: "grafana-dup-1", country: "DE", device: "mobile");
            await platform.SendAsync(tenant,
            [
                copy,
                TestEvents.Track("signup", "u2", At(0, 40), country: "FR", device: "desktop"),
                TestEvents.Track("signup", "u1", At(2, 5), country: "DE", device: "mobile"),
                TestEvents.Track("purchase", "u2", At(1, 30), country: "FR", device: "desktop"),
                TestEvents.Track("purchase", "u3", At(4, 59), country: "DE", device: "desktop"),
                TestEvents.Track("page_view", "u1", Day.AddDays(-2).AddHours(12), country: "US"),
            ]);
            await platform.SendAsync(tenant, [copy]);
            await platform.SendAsync(other, Enumerable.Range(0, 5).Select(i => TestEvents.Track("signup", "b" + i, At(0, 20), country: "JP", device: "tv"))
                .Append(TestEvents.Track("b_only_event", "b0", At(1, 0), country: "JP")));
            await platform.WaitForStoredAsync(tenant, 6);
            await platform.WaitForStoredAsync(other, 6);
            return _dataset = new Dataset(tenant, other);
        }
        finally
        {
            Gate.Release();
        }
    }

    private static JsonObject Range(DateTimeOffset from, DateTimeOffset to) => new()
    {
        ["from"] = from.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"),
        ["to"] = to.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"),
        ["raw"] = new JsonObject { ["from"] = "now-6h", ["to"] = "now" },
    };

    private static JsonObject Target(string refId, string target, JsonNode? payload, bool hide = false) => new()
    {
        ["refId"] = refId,
        ["datasource"] = new JsonObject { ["type"] = "simpod-json-datasource", ["uid"] = "platform-json" },
        ["editorMode"] = "code",
        ["target"] = target,
        ["payload"] = payload,
        ["hide"] = hide,
    };

    /// <summary>A /query body as the plugin sends it.</summary>
    private static JsonObject Query(DateTimeOffset from, DateTimeOffset to, long intervalMs, JsonArray targets, JsonArray? adhocFilters = null) => new()
    {
        ["app"] = "dashboard",
        ["requestId"] = "Q101",
        ["timezone"] = "browser",
        ["panelId"] = 2,
        ["dashboardUID"] = "platform-product-kpis",
        ["range"] = Range(from, to),
        ["rangeRaw"] = new JsonObject { ["from"] = "now-6h", ["to"] = "now" },
        ["interval"] = intervalMs >= 3_600_000 ? $"{intervalMs / 3_600_000}h" : $"{intervalMs / 1000}s",
        ["intervalMs"] = intervalMs,
        ["maxDataPoints"] = 1200,
        ["targets"] = targets,
        ["adhocFilters"] = adhocFilters ?? [],
        ["scopedVars"] = new JsonObject
        {
            ["__interval"] = new JsonObject { ["text"] = "1m", ["value"] = "1m" },
            ["__interval_ms"] = new JsonObject { ["text"] = "60000", ["value"] = 60000 },
        },
        ["startTime"] = 1700000000000,
    };

    private static JsonObject Filter(string key, string op, string value) => new() { ["key"] = key, ["operator"] = op, ["value"] = value, ["condition"] = "" };

    private static async Task<JsonNode> PostAsync(HttpClient api, string path, string body)
    {
        using var response = await api.PostAsync(path, Http.Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path} answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    private static async Task<JsonObject> PostProblemAsync(HttpClient api, string path, string body)
    {
        using var response = await api.PostAsync(path, Http.Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path} with {body} answered {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>Each series as target -> [[value, ms], ...] rendered "value@minute" for readable failures.</summary>
    private static Dictionary<string, string> Series(JsonNode answer, DateTimeOffset origin, TimeSpan step) =>
        answer.AsArray().ToDictionary(
            s => (string)s!["target"]!,
            s => string.Join(" ", s!["datapoints"]!.AsArray().Select(p =>
                $"{(double)p![0]!}@{(DateTimeOffset.FromUnixTimeMilliseconds((long)(double)p[1]!) - origin) / step}")));

    [Fact]
    public async Task Query_answers_minute_series_per_event_exactly_counting_a_copied_event_once()
    {
        var data = await DatasetAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var body = Query(At(0, 0), At(5, 0), 60_000,
            [Target("A", "events", new JsonObject { ["event"] = new JsonArray("signup", "purchase") })]);

        var answer = await PostAsync(api, "/grafana/query", body.ToJsonString());

        Assert.Equal(new Dictionary<string, string>
        {
            ["signup"] = "2@0 0@1 1@2 0@3 0@4",
            ["purchase"] = "0@0 1@1 0@2 0@3 1@4",
        }, Series(answer, At(0, 0), TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task Ad_hoc_filters_narrow_every_target_and_hidden_targets_are_skipped()
    {
        var data = await DatasetAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var targets = new JsonArray(
            Target("A", "events", new JsonObject { ["event"] = new JsonArray("signup") }, hide: true),
            Target("B", "events", "{\"event\": [\"signup\", \"purchase\"], \"measure\": \"count\"}"));

        var equal = await PostAsync(api, "/grafana/query", Query(At(0, 0), At(5, 0), 60_000, targets.DeepClone().AsArray(), [Filter("country", "=", "DE")]).ToJsonString());
        var notEqual = await PostAsync(api, "/grafana/query", Query(At(0, 0), At(5, 0), 60_000, targets.DeepClone().AsArray(), [Filter("country", "!=", "DE")]).ToJsonString());
        var contains = await PostAsync(api, "/grafana/query", Query(At(0, 0), At(5, 0), 60_000, targets.DeepClone().AsArray(), [Filter("device", "=~", "desk"), Filter("country", "=", "FR")]).ToJsonString());
        var hostile = await PostAsync(api, "/grafana/query", Query(At(0, 0), At(5, 0), 60_000, targets.DeepClone().AsArray(), [Filter("country", "=", "x' OR 1=1 --")]).ToJsonString());

        var step = TimeSpan.FromMinutes(1);
        Assert.Equal(new Dictionary<string, string> { ["signup"] = "1@0 0@1 1@2 0@3 0@4", ["purchase"] = "0@0 0@1 0@2 0@3 1@4" }, Series(equal, At(0, 0), step));
        Assert.Equal(new Dictionary<string, string> { ["signup"] = "1@0 0@1 0@2 0@3 0@4", ["purchase"] = "0@0 1@1 0@2 0@3 0@4" }, Series(notEqual, At(0, 0), step));
        Assert.Equal(new Dictionary<string, string> { ["signup"] = "1@0 0@1 0@2 0@3 0@4", ["purchase"] = "0@0 1@1 0@2 0@3 0@4" }, Series(contains, At(0, 0), step));
        Assert.Equal(new Dictionary<string, string> { ["signup"] = "0@0 0@1 0@2 0@3 0@4", ["purchase"] = "0@0 0@1 0@2 0@3 0@4" }, Series(hostile, At(0, 0), step));
    }

    [Fact]
    public async Task Interval_follows_intervalMs_and_all_events_are_one_series_of_this_tenant_only()
    {
        var data = await DatasetAsync();
        using var api = platform.Api(data.Tenant.ReadKey);

        var daily = await PostAsync(api, "/grafana/query", Query(Day.AddDays(-3), Day.AddDays(1), 86_400_000, [Target("A", "events", new JsonObject())]).ToJsonString());
        var hourly = await PostAsync(api, "/grafana/query", Query(Day.AddHours(9), Day.AddHours(12), 600_000, [Target("A", "events", new JsonObject { ["measure"] = "users" })]).ToJsonString());

        Assert.Equal(new Dictionary<string, string> { ["events"] = "0@0 1@1 0@2 5@3" }, Series(daily, Day.AddDays(-3), TimeSpan.FromDays(1)));
        Assert.Equal(new Dictionary<string, string> { ["users"] = "0@0 3@1 0@2" }, Series(hourly, Day.AddHours(9), TimeSpan.FromHours(1)));
    }

    [Fact]
    public async Task Days_are_the_tenants_local_days_in_a_non_UTC_zone()
    {
        // Asia/Kolkata is UTC+05:30: 17:00Z is 22:30 on the day, 20:00Z already 01:30 the next day.
        var tenant = await platform.CreateTenantAsync();
        await using (var dataSource = Npgsql.NpgsqlDataSource.Create(platform.App["platform"].ConnectionString!))
        {
            Assert.True(await new Platform.Tenancy.TenantDirectory(dataSource, TimeProvider.System).UpdateSettingsAsync(tenant.Id, new Platform.Tenancy.TenantSettings { TimeZone = "Asia/Kolkata" }));
        }

        await platform.SendAsync(tenant, [TestEvents.Track("signup", "k1", Day.AddHours(17)), TestEvents.Track("signup", "k2", Day.AddHours(20))]);
        await platform.WaitForStoredAsync(tenant, 2);
        using var api = platform.Api(tenant.ReadKey);
        var localMidnight = Day.AddDays(-1).AddHours(18).AddMinutes(30);

        var answer = await PostAsync(api, "/grafana/query", Query(localMidnight, localMidnight.AddDays(2), 86_400_000, [Target("A", "events", new JsonObject())]).ToJsonString());

        Assert.Equal(new Dictionary<string, string> { ["events"] = "1@0 1@1" }, Series(answer, localMidnight, TimeSpan.FromDays(1)));
    }

    [Fact]
    public async Task Table_format_answers_one_row_per_breakdown_value_with_its_total()
    {
        var data = await DatasetAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var payload = "{\"event\": [], \"country\": [], \"breakdown\": \"country\", \"format\": \"table\"}";

        var answer = await PostAsync(api, "/grafana/query", Query(Day, Day.AddDays(1), 3_600_000, [Target("A", "events", payload)]).ToJsonString());
        var users = await PostAsync(api, "/grafana/query", Query(Day, Day.AddDays(1), 3_600_000,
            [Target("A", "events", new JsonObject { ["measure"] = "users", ["breakdown"] = "device", ["country"] = new JsonArray("DE", "FR"), ["format"] = "table" })]).ToJsonString());

        var table = Assert.Single(answer.AsArray())!;
        Assert.Equal("table", (string)table["type"]!);
        Assert.Equal("""[{"text":"country","type":"string"},{"text":"count","type":"number"}]""", table["columns"]!.ToJsonString());
        Assert.Equal("""[["DE",3],["FR",2]]""", table["rows"]!.ToJsonString());
        Assert.Equal("""[["desktop",2],["mobile",1]]""", Assert.Single(users.AsArray())!["rows"]!.ToJsonString());
    }

    [Fact]
    public async Task Variables_tag_values_and_payload_options_list_this_tenants_recent_values_most_frequent_first()
    {
        var data = await DatasetAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var range = Range(DateTimeOffset.UtcNow.AddDays(-7), DateTimeOffset.UtcNow).ToJsonString();

        var events = await PostAsync(api, "/grafana/variable", $$"""{"payload": {"target": "events"}, "range": {{range}}}""");
        var countries = await PostAsync(api, "/grafana/variable", $$"""{"payload": {"target": "countries"}, "range": {{range}}}""");
        var keys = await PostAsync(api, "/grafana/tag-keys", "{}");
        var devices = await PostAsync(api, "/grafana/tag-values", """{"key": "device"}""");
        var eventOptions = await PostAsync(api, "/grafana/metric-payload-options", """{"metric": "events", "payload": {}, "name": "event"}""");
        var measureOptions = await PostAsync(api, "/grafana/metric-payload-options", """{"metric": "events", "payload": {"event": ["signup"]}, "name": "measure"}""");

        Assert.Equal("""[{"__text":"signup","__value":"signup"},{"__text":"purchase","__value":"purchase"},{"__text":"page_view","__value":"page_view"}]""", events.ToJsonString());
        Assert.Equal("""[{"__text":"DE","__value":"DE"},{"__text":"FR","__value":"FR"},{"__text":"US","__value":"US"}]""", countries.ToJsonString());
        Assert.Contains(keys.AsArray(), k => (string)k!["text"]! == "country" && (string)k["type"]! == "string");
        Assert.Contains(keys.AsArray(), k => (string)k!["text"]! == "plan"); // from the product database, through dim_users
        Assert.Equal("""[{"text":"desktop"},{"text":"mobile"}]""", devices.ToJsonString());
        Assert.Equal("""[{"label":"signup","value":"signup"},{"label":"purchase","value":"purchase"},{"label":"page_view","value":"page_view"}]""", eventOptions.ToJsonString());
        Assert.Equal("""[{"label":"count","value":"count"},{"label":"users","value":"users"}]""", measureOptions.ToJsonString());

        // The other tenant sees only its own.
        using var other = platform.Api(data.Other.ReadKey);
        Assert.Equal("""[{"__text":"signup","__value":"signup"},{"__text":"b_only_event","__value":"b_only_event"}]""",
            (await PostAsync(other, "/grafana/variable", """{"payload": {"target": "events"}}""")).ToJsonString());
    }

    /// <summary>A read token as <c>Api token --tenant</c> mints it: HS256 over tenant_id and scope with the platform's signing key.</summary>
    private string Token(string tenantId)
    {
        static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = B64(System.Text.Encoding.UTF8.GetBytes("""{"alg":"HS256","typ":"JWT"}"""));
        var claims = B64(System.Text.Encoding.UTF8.GetBytes(new JsonObject
        {
            ["iss"] = "platform", ["aud"] = "platform-api", ["iat"] = now, ["nbf"] = now, ["exp"] = now + 3600,
            ["tenant_id"] = tenantId, ["scope"] = "metrics",
        }.ToJsonString()));
        var signature = B64(System.Security.Cryptography.HMACSHA256.HashData(System.Text.Encoding.UTF8.GetBytes(platform.JwtSigningKey), System.Text.Encoding.UTF8.GetBytes(header + "." + claims)));
        return $"{header}.{claims}.{signature}";
    }

    [Fact]
    public async Task A_bearer_token_reads_its_own_tenant_as_a_read_key_does()
    {
        var data = await DatasetAsync();
        var body = Query(At(0, 0), At(5, 0), 60_000, [Target("A", "events", new JsonObject { ["event"] = new JsonArray("signup") })]).ToJsonString();
        using var token = platform.Api(Token(data.Tenant.Id));
        using var otherToken = platform.Api(Token(data.Other.Id));

        Assert.Equal(new Dictionary<string, string> { ["signup"] = "2@0 0@1 1@2 0@3 0@4" }, Series(await PostAsync(token, "/grafana/query", body), At(0, 0), TimeSpan.FromMinutes(1)));
        Assert.Equal(new Dictionary<string, string> { ["signup"] = "5@0 0@1 0@2 0@3 0@4" }, Series(await PostAsync(otherToken, "/grafana/query", body), At(0, 0), TimeSpan.FromMinutes(1)));
        Assert.Equal("ok", (string)(await MetricsPlatform.GetJsonAsync(token, "/grafana"))["status"]!);
    }

    [Fact]
    public async Task Test_connection_and_catalogue_describe_the_metrics_and_need_a_credential()
    {
        var data = await DatasetAsync();
        using var api = platform.Api(data.Tenant.ReadKey);

        var status = await MetricsPlatform.GetJsonAsync(api, "/grafana/");
        var catalogue = (await PostAsync(api, "/grafana/metrics", "{}")).AsArray();
        var reloaded = (await PostAsync(api, "/grafana/metrics", """{"metric": "events", "payload": {"event": ["signup"]}}""")).AsArray();

        Assert.Equal("ok", (string)status["status"]!);
        var events = Assert.Single(catalogue, m => (string)m!["value"]! == "events")!;
        Assert.Equal("Events (trends)", (string)events["label"]!);
        Assert.Equal(["event:multi-select", "country:multi-select", "measure:select", "breakdown:select", "interval:select", "format:select"],
            events["payloads"]!.AsArray().Select(p => $"{p!["name"]}:{p["type"]}"));
        Assert.Null(events["payloads"]![0]!["options"]);
        Assert.Equal(catalogue.ToJsonString(), reloaded.ToJsonString());
        Assert.Equal(catalogue.Select(m => (string)m!["value"]!), status["metrics"]!.AsArray().Select(m => (string)m!));

        using var anonymous = platform.CreateHttpClient("api");
        using var response = await anonymous.PostAsync("/grafana/query", Http.Json(Query(At(0, 0), At(5, 0), 60_000, [Target("A", "events", null)]).ToJsonString()));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Bad_bodies_and_hostile_inputs_are_400_problems_naming_the_parameter()
    {
        var data = await DatasetAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        string Q(JsonNode? payload, string target = "events", JsonArray? filters = null, long intervalMs = 60_000) =>
            Query(At(0, 0), At(5, 0), intervalMs, [Target("A", target, payload)], filters).ToJsonString();

        var cases = new (string Path, string Body, string Parameter)[]
        {
            ("/grafana/query", "{\"targets\": [", "body"),
            ("/grafana/query", "[]", "body"),
            ("/grafana/query", "{\"range\": {\"from\": \"a\", \"from\": \"b\"}}", "body"),
            ("/grafana/query", Q(null, target: "x' OR 1=1 --"), "target"),
            ("/grafana/query", Q(null, target: "active_users_not_a_metric"), "target"),
            ("/grafana/query", Q(new JsonObject { ["measure"] = "bogus" }), "payload.measure"),
            ("/grafana/query", Q(new JsonObject { ["breakdown"] = "country) OR 1=1 --" }), "payload.breakdown"),
            ("/grafana/query", Q(new JsonObject { ["event"] = 42 }), "payload.event"),
            ("/grafana/query", Q(new JsonObject { ["event"] = new JsonArray("ok", "bad\u0001name") }), "payload.event"),
            ("/grafana/query", Q(new JsonObject { ["event"] = new string('e', 200) }), "payload.event"),
            ("/grafana/query", Q(new JsonObject { ["tenant_id"] = data.Other.Id }), "payload.tenant_id"),
            ("/grafana/query", Q("{not json"), "payload"),
            ("/grafana/query", Q(new JsonArray()), "payload"),
            ("/grafana/query", Q(null, filters: [Filter("tenant_id", "=", data.Other.Id)]), "adhocFilters"),
            ("/grafana/query", Q(null, filters: [Filter("country') OR 1=1 --", "=", "DE")]), "adhocFilters"),
            ("/grafana/query", Q(null, filters: [Filter("country", "<", "DE")]), "adhocFilters.operator"),
            ("/grafana/query", Q(null, filters: [new JsonObject { ["key"] = "country", ["operator"] = "=|", ["values"] = new JsonArray() }]), "adhocFilters"),
            ("/grafana/query", Q(null, intervalMs: -5), "intervalMs"),
            ("/grafana/query", Q(new JsonObject { ["interval"] = "fortnight" }), "payload.interval"),
            ("/grafana/query", Query(Day.AddDays(-30), Day, 60_000, [Target("A", "events", new JsonObject { ["interval"] = "minute" })]).ToJsonString(), "interval"),
            ("/grafana/query", Query(At(5, 0), At(0, 0), 60_000, [Target("A", "events", null)]).ToJsonString(), "from"),
            ("/grafana/query", """{"range": {"from": "1971-01-01T00:00:00.000Z", "to": "2100-01-01T00:00:00.000Z"}, "targets": [{"refId": "A", "target": "events"}]}""", "from"),
            ("/grafana/query", """{"range": {"from": "now-6h", "to": "now"}, "targets": [{"refId": "A", "target": "events"}]}""", "to"),
            ("/grafana/query", """{"targets": [{"refId": "A", "target": "events"}]}""", "range"),
            ("/grafana/query", """{"range": 5, "targets": []}""", "range"),
            ("/grafana/variable", """{"payload": {"target": "users'; DROP TABLE raw_events; --"}}""", "payload.target"),
            ("/grafana/variable", """{"payload": 7}""", "payload"),
            ("/grafana/tag-values", """{"key": "tenant_id"}""", "key"),
            ("/grafana/tag-values", """{"key": ["country"]}""", "key"),
            ("/grafana/metric-payload-options", """{"metric": "nope", "name": "event", "payload": {}}""", "metric"),
            ("/grafana/metric-payload-options", """{"metric": "events", "name": "nope", "payload": {}}""", "name"),
        };

        foreach (var (path, body, parameter) in cases)
        {
            var problem = await PostProblemAsync(api, path, body);
            Assert.True((string?)problem["parameter"] == parameter, $"{path} {body}: expected parameter {parameter}, got {problem}");
        }
    }

    private static Dataset? _product;

    /// <summary>The Monday on or before ten days ago: every product event lies in its week, days in the past (late, and never staged).</summary>
    private static readonly DateTimeOffset W = MondayOnOrBefore(DateTime.UtcNow.Date.AddDays(-10));

    /// <summary>Yesterday's UTC midnight: session events, recent enough for the Transformer's sessions model.</summary>
    private static readonly DateTimeOffset D = new(DateTime.UtcNow.Date.AddDays(-1), TimeSpan.Zero);

    private static DateTimeOffset MondayOnOrBefore(DateTime day) => new(day.AddDays(-(((int)day.DayOfWeek + 6) % 7)), TimeSpan.Zero);

    /// <summary>
    /// Tenant P, week W: p1 view 10:00, signup 10:05, buy 10:20 (DE) and view W+1 10:00, feature_x W+2 10:00;
    /// p2 view 11:00, signup 11:10 (FR) and view W+2 11:00; p3 view 12:00 (DE); p4 view W+1 09:00, signup 09:01,
    /// buy 09:03, feature_x 09:30 (FR); p1's first event sent twice. Yesterday: sessions s1 (DE, 2400 s), s2 (FR, 0 s),
    /// s3 (FR, 25 s). Tenant Q has the same names, users and sessions, none of which may show.
    /// </summary>
    private async Task<Dataset> ProductAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_product is not null)
            {
                return _product;
            }

            var tenant = await platform.CreateTenantAsync();
            var other = await platform.CreateTenantAsync();
            var copy = TestEvents.Track("view", "p1", W.AddHours(10), id: "grafana-product-dup", country: "DE");
            JsonObject[] events =
            [
                copy,
                TestEvents.Track("signup", "p1", W.AddHours(10).AddMinutes(5), country: "DE"),
                TestEvents.Track("buy", "p1", W.AddHours(10).AddMinutes(20), country: "DE"),
                TestEvents.Track("view", "p1", W.AddDays(1).AddHours(10), country: "DE"),
                TestEvents.Track("feature_x", "p1", W.AddDays(2).AddHours(10), country: "DE"),
                TestEvents.Track("view", "p2", W.AddHours(11), country: "FR"),
                TestEvents.Track("signup", "p2", W.AddHours(11).AddMinutes(10), country: "FR"),
                TestEvents.Track("view", "p2", W.AddDays(2).AddHours(11), country: "FR"),
                TestEvents.Track("view", "p3", W.AddHours(12), country: "DE"),
                TestEvents.Track("view", "p4", W.AddDays(1).AddHours(9), country: "FR"),
                TestEvents.Track("signup", "p4", W.AddDays(1).AddHours(9).AddMinutes(1), country: "FR"),
                TestEvents.Track("buy", "p4", W.AddDays(1).AddHours(9).AddMinutes(3), country: "FR"),
                TestEvents.Track("feature_x", "p4", W.AddDays(1).AddHours(9).AddMinutes(30), country: "FR"),
                TestEvents.Track("view", "s1", D.AddHours(1), country: "DE"),
                TestEvents.Track("view", "s1", D.AddHours(1).AddMinutes(20), country: "DE"),
                TestEvents.Track("view", "s1", D.AddHours(1).AddMinutes(40), country: "DE"),
                TestEvents.Track("view", "s2", D.AddHours(3), country: "FR"),
                TestEvents.Track("view", "s3", D.AddHours(4), country: "FR"),
                TestEvents.Track("view", "s3", D.AddHours(4).AddSeconds(25), country: "FR"),
            ];
            await platform.SendAsync(tenant, events);
            await platform.SendAsync(tenant, [copy]);
            await platform.SendAsync(other,
            [
                TestEvents.Track("view", "p1", W.AddHours(10), country: "DE"),
                TestEvents.Track("signup", "p1", W.AddHours(10).AddMinutes(1), country: "DE"),
                TestEvents.Track("buy", "p1", W.AddHours(10).AddMinutes(2), country: "DE"),
                TestEvents.Track("feature_x", "p9", W.AddHours(10), country: "JP"),
                TestEvents.Track("view", "s1", D.AddHours(1), country: "JP"),
                TestEvents.Track("view", "s1", D.AddHours(1).AddSeconds(50), country: "JP"),
            ]);
            await platform.WaitForStoredAsync(tenant, events.Length);
            await platform.WaitForStoredAsync(other, 6);
            var after = DateTimeOffset.UtcNow;
            await platform.WaitForModelsAsync(after);

            // The sessions model must have read a staging build that started after everything was stored.
            using var api = platform.Api(tenant.ReadKey);
            var path = $"/v1/sessions?from={D:yyyy-MM-ddTHH:mm:ssZ}&to={D.AddDays(1):yyyy-MM-ddTHH:mm:ssZ}";
            var fresh = await Eventually.MatchesAsync(
                async () => (await MetricsPlatform.GetJsonAsync(api, path))["asOf"]?.GetValue<DateTimeOffset>(),
                asOf => asOf >= after, TimeSpan.FromSeconds(120));
            Assert.True(fresh >= after, $"sessions model as of {fresh:O}, not after {after:O}");
            return _product = new Dataset(tenant, other);
        }
        finally
        {
            Gate.Release();
        }
    }

    private static long Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds();

    private async Task<JsonNode> QueryOneAsync(HttpClient api, DateTimeOffset from, DateTimeOffset to, string target, JsonNode payload, long intervalMs = 86_400_000) =>
        await PostAsync(api, "/grafana/query", Query(from, to, intervalMs, [Target("A", target, payload)]).ToJsonString());

    [Fact]
    public async Task Active_users_answer_dau_wau_mau_series_at_local_midnights_and_a_row_per_day()
    {
        var data = await ProductAsync();
        using var api = platform.Api(data.Tenant.ReadKey);

        var all = await QueryOneAsync(api, W, W.AddDays(3), "active_users", new JsonObject());
        var wau = await QueryOneAsync(api, W, W.AddDays(3), "active_users", "{\"window\": \"wau\"}");
        var table = await QueryOneAsync(api, W, W.AddDays(3), "active_users", new JsonObject { ["window"] = "dau", ["format"] = "table" });

        Assert.Equal(new Dictionary<string, string> { ["dau"] = "3@0 2@1 2@2", ["wau"] = "3@0 4@1 4@2", ["mau"] = "3@0 4@1 4@2" }, Series(all, W, TimeSpan.FromDays(1)));
        Assert.Equal(new Dictionary<string, string> { ["wau"] = "3@0 4@1 4@2" }, Series(wau, W, TimeSpan.FromDays(1)));
        var frame = Assert.Single(table.AsArray())!;
        Assert.Equal("""[{"text":"day","type":"time"},{"text":"dau","type":"number"}]""", frame["columns"]!.ToJsonString());
        Assert.Equal($"[[{Ms(W)},3],[{Ms(W.AddDays(1))},2],[{Ms(W.AddDays(2))},2]]", frame["rows"]!.ToJsonString());
    }

    [Fact]
    public async Task Funnel_answers_a_table_of_steps_with_conversions_and_medians_whatever_the_format()
    {
        var data = await ProductAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var payload = new JsonObject { ["steps"] = new JsonArray("view", "signup", "buy"), ["window"] = "1d" };

        var answer = await QueryOneAsync(api, W, W.AddDays(3), "funnel", payload);
        var hourWindow = await QueryOneAsync(api, W, W.AddDays(3), "funnel", "{\"steps\": [\"view\", \"buy\"], \"window\": \"1h\", \"format\": \"table\"}");
        var byCountry = await QueryOneAsync(api, W, W.AddDays(3), "funnel", "{\"steps\": [\"view\", \"signup\"], \"breakdown\": \"country\"}");

        var table = Assert.Single(answer.AsArray())!;
        Assert.Equal("table", (string)table["type"]!);
        Assert.Equal(["step", "event", "count", "conversion from first", "conversion from previous", "median seconds from previous"],
            table["columns"]!.AsArray().Select(c => (string)c!["text"]!));
        Assert.Equal($"[[1,\"view\",4,1,1,null],[2,\"signup\",3,0.75,0.75,300],[3,\"buy\",2,0.5,{2.0 / 3:R},510]]", table["rows"]!.ToJsonString());
        // p1 bought 20 minutes and p4 3 minutes after their view.
        Assert.Equal("[[1,\"view\",4,1,1,null],[2,\"buy\",2,0.5,0.5,690]]", Assert.Single(hourWindow.AsArray())!["rows"]!.ToJsonString());
        Assert.Equal("[[\"(all)\",1,\"view\",4,1,1,null],[\"(all)\",2,\"signup\",3,0.75,0.75,300],"
            + "[\"DE\",1,\"view\",2,1,1,null],[\"DE\",2,\"signup\",1,0.5,0.5,300],[\"FR\",1,\"view\",2,1,1,null],[\"FR\",2,\"signup\",2,1,1,330]]",
            Assert.Single(byCountry.AsArray())!["rows"]!.ToJsonString());
    }

    [Fact]
    public async Task Retention_answers_a_row_per_cohort_with_a_percentage_per_period()
    {
        var data = await ProductAsync();
        using var api = platform.Api(data.Tenant.ReadKey);

        var any = await QueryOneAsync(api, W, W.AddDays(3), "retention", "{\"grain\": \"day\", \"periods\": \"3\", \"format\": \"table\"}");
        var named = await QueryOneAsync(api, W, W.AddDays(3), "retention",
            new JsonObject { ["cohort_event"] = "signup", ["return_event"] = "buy", ["periods"] = "2", ["format"] = "table" });
        var series = await QueryOneAsync(api, W, W.AddDays(3), "retention", "{\"periods\": \"2\"}");

        var table = Assert.Single(any.AsArray())!;
        Assert.Equal(["cohort", "size", "day 0", "day 1", "day 2"], table["columns"]!.AsArray().Select(c => (string)c!["text"]!));
        Assert.Equal($"[[{Ms(W)},3,100,{100.0 / 3:R},{200.0 / 3:R}],[{Ms(W.AddDays(1))},1,100,0,0],[{Ms(W.AddDays(2))},0,0,0,0]]", table["rows"]!.ToJsonString());
        Assert.Equal($"[[{Ms(W)},2,50,0],[{Ms(W.AddDays(1))},1,100,0],[{Ms(W.AddDays(2))},0,0,0]]", Assert.Single(named.AsArray())!["rows"]!.ToJsonString());
        Assert.Equal(new Dictionary<string, string> { ["day 0"] = "100@0 100@1 0@2", ["day 1"] = $"{100.0 / 3}@0 0@1 0@2" }, Series(series, W, TimeSpan.FromDays(1)));
    }

    [Fact]
    public async Task Session_lengths_answer_a_row_per_duration_bucket_with_a_column_per_breakdown_value()
    {
        var data = await ProductAsync();
        using var api = platform.Api(data.Tenant.ReadKey);

        // The sessions model is rebuilt on the heavy schedule: wait until a build holds all three sessions.
        var plain = await Eventually.MatchesAsync(() => QueryOneAsync(api, D, D.AddDays(1), "session_lengths", "{\"format\": \"table\"}"),
            a => a[0]!["rows"]!.AsArray().Sum(r => (long)r![1]!) == 3, TimeSpan.FromSeconds(60));
        var byCountry = await QueryOneAsync(api, D, D.AddDays(1), "session_lengths", new JsonObject { ["breakdown"] = "country" });

        var table = Assert.Single(plain.AsArray())!;
        Assert.Equal("""[{"text":"duration","type":"string"},{"text":"sessions","type":"number"}]""", table["columns"]!.ToJsonString());
        Assert.Equal("""[["0-10 s",1],["10-30 s",1],["30-60 s",0],["60-180 s",0],["180-600 s",0],["600-1800 s",0],["1800-3600 s",1],["3600+ s",0]]""",
            Unescaped(table["rows"]!));
        var split = Assert.Single(byCountry.AsArray())!;
        Assert.Equal(["duration", "sessions", "FR", "DE"], split["columns"]!.AsArray().Select(c => (string)c!["text"]!));
        Assert.Equal("""[["0-10 s",1,1,0],["10-30 s",1,1,0],["30-60 s",0,0,0],["60-180 s",0,0,0],["180-600 s",0,0,0],["600-1800 s",0,0,0],["1800-3600 s",1,0,1],["3600+ s",0,0,0]]""",
            Unescaped(split["rows"]!));
    }

    /// <summary>JSON text with the '+' the default encoder escapes written plainly.</summary>
    private static string Unescaped(JsonNode node) => node.ToJsonString().Replace("\\u002B", "+");

    [Fact]
    public async Task Feature_adoption_answers_a_row_per_cohort_week_and_needs_a_feature()
    {
        var data = await ProductAsync();
        using var api = platform.Api(data.Tenant.ReadKey);

        var table = await QueryOneAsync(api, W, W.AddDays(7), "feature_adoption", "{\"feature\": \"feature_x\", \"format\": \"table\"}");
        var series = await QueryOneAsync(api, W.AddDays(-7), W.AddDays(7), "feature_adoption", new JsonObject { ["feature"] = "feature_x" });
        var problem = await PostProblemAsync(api, "/grafana/query", Query(W, W.AddDays(7), 86_400_000, [Target("A", "feature_adoption", "{\"format\": \"table\"}")]).ToJsonString());

        var frame = Assert.Single(table.AsArray())!;
        Assert.Equal(["week", "cohort users", "adopters", "rate"], frame["columns"]!.AsArray().Select(c => (string)c!["text"]!));
        Assert.Equal($"[[{Ms(W)},4,2,0.5]]", frame["rows"]!.ToJsonString());
        Assert.Equal(new Dictionary<string, string> { ["feature_x"] = "0@0 0.5@1" }, Series(series, W.AddDays(-7), TimeSpan.FromDays(7)));
        Assert.Equal("payload.feature", (string?)problem["parameter"]);
    }

    private sealed record InsertMinute(long Minute, long Rows, long LagSum);

    [Fact]
    public async Task Pipeline_ingest_lag_and_insert_rate_are_per_minute_series_of_the_tenants_inserts()
    {
        var tenant = await platform.CreateTenantAsync();
        var from = DateTimeOffset.UtcNow.AddMinutes(-5);
        await platform.SendAsync(tenant, Enumerable.Range(0, 7).Select(i => TestEvents.Track("tick", "r" + i, DateTimeOffset.UtcNow.AddMinutes(-i))));
        await platform.WaitForStoredAsync(tenant, 7);
        var to = DateTimeOffset.UtcNow.AddMinutes(1);

        // The same figures read behind the Api's back: rows and summed lag per minute of inserted_at.
        var text = await platform.Probe.ClickHouse.QueryScalarAsync($"""
            SELECT arrayStringConcat(arrayMap(x -> concat(toString(x.1), ',', toString(x.2), ',', toString(x.3)), arraySort(groupArray((m, c, s)))), ';')
            FROM (SELECT toUInt32(toStartOfMinute(inserted_at)) AS m, count() AS c, sum(toInt64(inserted_at) - toInt64(received_at)) AS s
                  FROM raw_events WHERE tenant_id = {Platform.ClickHouse.ClickHouseSql.Literal(tenant.Id)} GROUP BY m)
            """);
        var minutes = text.Trim().Split(';').Select(r => r.Split(',').Select(long.Parse).ToArray()).Select(a => new InsertMinute(a[0], a[1], a[2])).ToList();
        Assert.Equal(7, minutes.Sum(m => m.Rows));
        var origin = new DateTimeOffset(from.UtcDateTime.Ticks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero);
        var count = (int)Math.Ceiling((to - origin).TotalMinutes);
        string Expected(Func<InsertMinute?, double?> value) => string.Join(" ", Enumerable.Range(0, count)
            .Select(i => (i, v: value(minutes.FirstOrDefault(m => m.Minute == origin.AddMinutes(i).ToUnixTimeSeconds()))))
            .Where(p => p.v is not null).Select(p => $"{p.v}@{p.i}"));

        using var api = platform.Api(tenant.ReadKey);
        var lag = await QueryOneAsync(api, from, to, "pipeline_ingest_lag", "{}", intervalMs: 60_000);
        var rate = await QueryOneAsync(api, from, to, "pipeline_insert_rate", new JsonObject { ["interval"] = "minute" }, intervalMs: 60_000);
        var table = await QueryOneAsync(api, from, to, "pipeline_insert_rate", new JsonObject { ["interval"] = "hour", ["format"] = "table" }, intervalMs: 60_000);

        Assert.Equal(new Dictionary<string, string> { ["ingest lag (s)"] = Expected(m => m is null ? null : (double)m.LagSum / m.Rows) }, Series(lag, origin, TimeSpan.FromMinutes(1)));
        Assert.Equal(new Dictionary<string, string> { ["rows/s"] = Expected(m => (m?.Rows ?? 0) / 60.0) }, Series(rate, origin, TimeSpan.FromMinutes(1)));
        var rows = Assert.Single(table.AsArray())!["rows"]!.AsArray();
        Assert.Equal(7.0, Math.Round(rows.Sum(r => (double)r![1]! * 3600), 6));
    }

    [Fact]
    public async Task Pipeline_consumer_lag_dead_letters_and_transform_runs_are_the_platforms_state_now()
    {
        var data = await ProductAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var before = DateTimeOffset.UtcNow;

        // Everything sent is stored: once the Ingestor has sampled since, the lag is 0.
        var lag = await Eventually.MatchesAsync(() => QueryOneAsync(api, W, D, "pipeline_consumer_lag", "{}"),
            a => a[0]!["datapoints"]!.AsArray() is [var p] && (double)p![0]! == 0, TimeSpan.FromSeconds(30));
        var deadLettered = await QueryOneAsync(api, W, D, "pipeline_error_rate", "{\"format\": \"table\"}");
        var runs = await QueryOneAsync(api, W, D, "pipeline_transform_runs", "{}");
        var health = await MetricsPlatform.GetJsonAsync(api, "/v1/pipeline/health");

        var point = Assert.Single(Assert.Single(lag.AsArray())!["datapoints"]!.AsArray())!;
        Assert.Equal("consumer lag", (string)lag[0]!["target"]!);
        Assert.InRange(DateTimeOffset.FromUnixTimeMilliseconds((long)(double)point[1]!), before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        var row = Assert.Single(Assert.Single(deadLettered.AsArray())!["rows"]!.AsArray())!;
        Assert.Equal((long)health["platform"]!["consumerLag"]!["counters"]!["deadLettered"]!, (long)row[1]!);
        var table = Assert.Single(runs.AsArray())!;
        Assert.Equal(["model", "status", "started", "duration ms", "rows", "error"], table["columns"]!.AsArray().Select(c => (string)c!["text"]!));
        Assert.Equal(health["platform"]!["transformRuns"]!.AsArray().Select(r => (string)r!["model"]!).Order(), table["rows"]!.AsArray().Select(r => (string)r![0]!).Order());
        Assert.Contains(table["rows"]!.AsArray(), r => (string)r![0]! == "sessions");
    }

    [Fact]
    public async Task Bad_payloads_of_the_product_and_pipeline_metrics_are_400_problems_naming_the_field()
    {
        var data = await ProductAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        string Q(string target, JsonNode payload, long intervalMs = 86_400_000) => Query(W, W.AddDays(3), intervalMs, [Target("A", target, payload)]).ToJsonString();

        var cases = new (string Body, string Parameter)[]
        {
            (Q("active_users", new JsonObject { ["window"] = "yau" }), "payload.window"),
            (Q("active_users", new JsonObject { ["breakdown"] = "tenant_id" }), "payload.breakdown"),
            (Q("funnel", new JsonObject { ["steps"] = new JsonArray("view") }), "payload.steps"),
            (Q("funnel", new JsonObject()), "payload.steps"),
            (Q("funnel", new JsonObject { ["steps"] = new JsonArray(Enumerable.Range(0, 11).Select(i => (JsonNode)$"e{i}").ToArray()) }), "payload.steps"),
            (Q("funnel", new JsonObject { ["steps"] = new JsonArray("view", "buy"), ["window"] = "2d" }), "payload.window"),
            (Q("funnel", new JsonObject { ["steps"] = "view" }), "payload.steps"),
            (Q("funnel", new JsonObject { ["funnel"] = "signup" }), "payload.funnel"),
            (Q("retention", new JsonObject { ["periods"] = "0" }), "payload.periods"),
            (Q("retention", new JsonObject { ["periods"] = "1e9" }), "payload.periods"),
            (Q("retention", new JsonObject { ["periods"] = "91" }), "payload.periods"),
            (Q("retention", new JsonObject { ["grain"] = "month" }), "payload.grain"),
            (Q("retention", new JsonObject { ["cohort_event"] = new JsonArray("view", "buy") }), "payload.cohort_event"),
            (Q("session_lengths", new JsonObject { ["breakdown"] = "os" }), "payload.breakdown"),
            (Q("feature_adoption", new JsonObject { ["feature"] = "" }), "payload.feature"),
            (Q("feature_adoption", new JsonObject { ["feature"] = new string('f', 129) }), "payload.feature"),
            (Query(W.AddDays(-30), W, 60_000, [Target("A", "pipeline_insert_rate", new JsonObject { ["interval"] = "minute" })]).ToJsonString(), "interval"),
            (Q("pipeline_consumer_lag", new JsonObject { ["interval"] = "minute" }), "payload.interval"),
            (Q("pipeline_transform_runs", new JsonObject { ["tenant_id"] = data.Other.Id }), "payload.tenant_id"),
        };

        foreach (var (body, parameter) in cases)
        {
            var problem = await PostProblemAsync(api, "/grafana/query", body);
            Assert.True((string?)problem["parameter"] == parameter, $"{body}: expected parameter {parameter}, got {problem}");
        }

        // Hostile event names stay values: no rows, no error.
        var hostile = await QueryOneAsync(api, W, W.AddDays(3), "funnel", new JsonObject { ["steps"] = new JsonArray("view' OR 1=1 --", "buy") });
        var rows = Assert.Single(hostile.AsArray())!["rows"]!.AsArray();
        Assert.Equal(["view' OR 1=1 --", "buy"], rows.Select(r => (string)r![1]!));
        Assert.Equal([0L, 0L], rows.Select(r => (long)r![2]!));
    }

    [Fact]
    public async Task Every_target_of_the_dashboards_is_served_and_answers()
    {
        var data = await DatasetAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var status = await MetricsPlatform.GetJsonAsync(api, "/grafana/");
        var served = status["metrics"]!.AsArray().Select(m => (string)m!).ToHashSet();
        Assert.Null(status["plannedMetrics"]);

        foreach (var (file, target) in DashboardFilesTests.Targets())
        {
            var metric = (string)target["target"]!;
            Assert.True(served.Contains(metric), $"{file}: target '{metric}' is not served");

            // As Grafana sends it with the variables at their defaults (multi-value ones at "All", []).
            var sent = target.DeepClone().AsObject();
            sent["payload"] = DashboardFilesTests.WithVariables(file, (string)target["payload"]!);
            var answer = await PostAsync(api, "/grafana/query", Query(Day, Day.AddDays(1), 60_000, [sent]).ToJsonString());
            Assert.True(answer.AsArray().Count > 0, $"{file}: target '{metric}' answered no frame");
        }
    }

    [Fact]
    public async Task A_rules_fixed_threshold_is_a_line_on_its_metric_for_its_tenant_only()
    {
        var tenant = await platform.CreateTenantAsync();
        var other = await platform.CreateTenantAsync();
        using var admin = platform.CreateHttpClient("api");
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", platform.AdminToken);
        JsonObject Rule(string tenantId, string condition, double threshold) => new()
        {
            ["name"] = $"{condition} {threshold}",
            ["tenant"] = tenantId,
            ["metric"] = "active_users",
            ["window"] = "day",
            ["condition"] = condition,
            ["compare_to"] = condition == "drop_pct" ? "previous_day" : null,
            ["threshold"] = threshold,
            ["every"] = "1d",
            ["webhook"] = new JsonObject { ["url"] = "https://hooks.example.com/grafana-test" },
        };
        var ids = new List<long>();
        foreach (var rule in new[] { Rule(tenant.Id, "below", 5), Rule(tenant.Id, "drop_pct", 20), Rule(other.Id, "below", 7) })
        {
            using var created = await admin.PostAsync("/admin/v1/alerts", Http.Json(rule.ToJsonString()));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            ids.Add((long)(await created.ReadObjectAsync())["id"]!);
        }

        try
        {
            using var api = platform.Api(tenant.ReadKey);
            var target = new JsonObject { ["refId"] = "D", ["target"] = "alert_thresholds", ["payload"] = new JsonObject { ["metric"] = "active_users" } };
            var answer = await PostAsync(api, "/grafana/query", Query(Day, Day.AddDays(1), 60_000, [target]).ToJsonString());
            var line = Assert.Single(answer.AsArray())!;
            Assert.Equal("alert: below 5 (day below 5)", (string)line["target"]!);
            Assert.Equal([5.0, 5.0], line["datapoints"]!.AsArray().Select(p => (double)p![0]!));
            Assert.Equal([Day.ToUnixTimeMilliseconds(), Day.AddDays(1).ToUnixTimeMilliseconds()], line["datapoints"]!.AsArray().Select(p => (long)(double)p![1]!));
        }
        finally
        {
            foreach (var id in ids)
            {
                using var _ = await admin.DeleteAsync($"/admin/v1/alerts/{id}");
            }
        }
    }
}
