using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Platform.ClickHouse;
using Platform.Testing;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// User and account dimensions (plan, account, account_seats) joined from the Transformer's dim_users
/// onto events. The product tables are written into ClickHouse in the CDC bridge's exact output shape
/// (cdc_* tables and their _current views, docs/cdc-apply.md), as the bridge would apply them; the
/// platform's Transformer builds dim_accounts and dim_users from them on its schedule. Expected answers
/// are computed here from the same rows and events. Another tenant holds the same user ids on another
/// plan and must never show.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class EnrichmentTests(MetricsPlatform platform)
{
    private static readonly DateTimeOffset Today = new(DateTime.UtcNow.Date, TimeSpan.Zero);
    private static readonly DateTimeOffset Yesterday = Today.AddDays(-1);
    private static readonly SemaphoreSlim SetupLock = new(1, 1);
    private static Dataset? _data;

    private sealed record Dataset(TestTenant Tenant);

    /// <summary>What dim_users says of each user of the tested tenant: (plan, account, seats); absent users get ('', '', '').</summary>
    private static readonly Dictionary<string, (string Plan, string Account, string Seats)> Users = new()
    {
        ["u1"] = ("team", "1", "5"),
        ["u2"] = ("team", "1", "5"),
        ["u3"] = ("business", "2", "20"), // account 2 moved from team (10 seats) to business (20)
        ["u4"] = ("business", "2", "20"),
        ["u5"] = ("free", "3", "1"),
        ["u6"] = ("", "4", "0"), // its account was deleted: the user row stays, without plan or seats
        // u7's row was deleted, u8 never had one, a1 is anonymous: all three are ''.
    };

    private static readonly string[] Actors = ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "a1"];

    /// <summary>Who bought within the hour after signing up (yesterday).</summary>
    private static readonly HashSet<string> Buyers = ["u1", "u3", "u5", "u7"];

    private static (string Plan, string Account, string Seats) Of(string actor) => Users.GetValueOrDefault(actor, ("", "", ""));

    /// <summary>Each actor's active days (0 = today), "open" events at noon: actor i is active on day d unless (i + d) % 3 == 0.</summary>
    private static IEnumerable<(string Actor, int Day)> Activity() =>
        from day in new[] { -3, -2, -1 }
        from i in Enumerable.Range(0, Actors.Length)
        where (i + day + 9) % 3 != 0
        select (Actors[i], day);

    /// <summary>Every actor's active days: the "open" days, and yesterday, when everyone signed up.</summary>
    private static List<(string Actor, int Day)> ActiveDays() => Activity().Concat(Actors.Select(a => (a, -1))).Distinct().ToList();

    private async Task<Dataset> DataAsync()
    {
        await SetupLock.WaitAsync();
        try
        {
            if (_data is not null)
            {
                return _data;
            }

            var tenant = await platform.CreateTenantAsync();
            var foreign = await platform.CreateTenantAsync();
            await WriteProductRowsAsync(tenant.Id, foreign.Id);

            var events = new List<JsonObject>();
            for (var i = 0; i < Actors.Length; i++)
            {
                var actor = Actors[i];
                var user = actor.StartsWith('u') ? actor : "";
                var anonymous = user.Length == 0 ? actor : null;
                var signup = Yesterday.AddHours(1 + i);
                events.Add(TestEvents.Track("signup", user, signup, $"signup-{actor}", anonymousId: anonymous));
                if (Buyers.Contains(actor))
                {
                    events.Add(TestEvents.Track("purchase", user, signup.AddMinutes(10), $"purchase-{actor}", anonymousId: anonymous));
                }
            }

            events.AddRange(Activity().Select(a => TestEvents.Track("open", a.Actor.StartsWith('u') ? a.Actor : "", Today.AddDays(a.Day).AddHours(12),
                $"open-{a.Actor}-{-a.Day}", anonymousId: a.Actor.StartsWith('u') ? null : a.Actor)));
            await platform.SendAsync(tenant, events);
            // The other tenant: the same users, all buying, all active every day.
            await platform.SendAsync(foreign, Actors.SelectMany((a, i) => new[]
            {
                TestEvents.Track("signup", a, Yesterday.AddHours(1 + i), $"f-signup-{a}"),
                TestEvents.Track("purchase", a, Yesterday.AddHours(1 + i).AddMinutes(5), $"f-purchase-{a}"),
                TestEvents.Track("open", a, Today.AddDays(-2).AddHours(12), $"f-open-{a}"),
            }));
            await platform.WaitForStoredAsync(tenant, events.Count);
            await platform.WaitForStoredAsync(foreign, Actors.Length * 3);

            // The Transformer's light schedule (2 s here) builds the dimension models once their sources exist.
            var sql = $"SELECT count() FROM dim_users WHERE tenant_id IN ({ClickHouseSql.List([tenant.Id, foreign.Id])})";
            var rows = await Eventually.MatchesAsync(async () =>
            {
                try
                {
                    return await platform.Probe.ClickHouse.QueryLongAsync(sql);
                }
                catch (ClickHouseServerException)
                {
                    return -1; // dim_users not built yet
                }
            }, n => n == Users.Count + 8, TimeSpan.FromSeconds(60));
            Assert.Equal(Users.Count + 8, rows);
            return _data = new Dataset(tenant);
        }
        finally
        {
            SetupLock.Release();
        }
    }

    /// <summary>The product rows as the bridge applies them: versions, an update, deletes.</summary>
    private async Task WriteProductRowsAsync(string tenant, string foreign)
    {
        var cdc = new CdcContractTables(platform.Probe.ClickHouse);
        await cdc.CreateAsync();
        var created = Today.AddDays(-90);
        await cdc.AccountAsync(tenant, 1, "Acme", "team", 5, created);
        await cdc.AccountAsync(tenant, 2, "Big", "team", 10, created);
        await cdc.AccountAsync(tenant, 2, "Big", "business", 20, created);
        await cdc.AccountAsync(tenant, 3, "Solo", "free", 1, created);
        await cdc.AccountAsync(tenant, 4, "Gone", "enterprise", 40, created);
        await cdc.DeleteAsync("cdc_accounts", tenant, "4");
        await cdc.SubscriptionAsync(tenant, 1, 1, "team", 7_500, "active", created);
        foreach (var (user, account) in new[] { ("u1", 1), ("u2", 1), ("u3", 2), ("u4", 2), ("u5", 3), ("u6", 4), ("u7", 1) })
        {
            await cdc.UserAsync(tenant, user, account, created, "DE");
        }

        await cdc.DeleteAsync("cdc_users", tenant, ClickHouseSql.Literal("u7"));

        await cdc.AccountAsync(foreign, 1, "Elsewhere", "enterprise", 99, created);
        foreach (var user in Actors.Where(a => a.StartsWith('u')))
        {
            await cdc.UserAsync(foreign, user, 1, created, "US");
        }
    }

    [Fact]
    public async Task Funnel_conversion_by_plan_follows_each_users_account()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);

        var answer = await PostFunnelAsync(api, FunnelBody("plan"));

        Assert.Equal("plan", (string)answer["breakdown"]!);
        Assert.Contains("dim_users", answer["sources"]!.AsArray().Select(s => (string)s!));
        var expected = Actors.GroupBy(a => Of(a).Plan)
            .ToDictionary(g => g.Key, g => $"{g.Count()} {g.Count(Buyers.Contains)} {(double)g.Count(Buyers.Contains) / g.Count():0.######}");
        var actual = answer["breakdowns"]!.AsArray().ToDictionary(
            g => (string)g!["value"]!,
            g => $"{(long)g!["steps"]![0]!["count"]!} {(long)g["steps"]![1]!["count"]!} {(double)g["steps"]![1]!["conversionFromFirst"]!:0.######}");
        Assert.Equal(expected.OrderBy(p => p.Key), actual.OrderBy(p => p.Key));
        // team 1 of 2, business 1 of 2, free 1 of 1, and '' (deleted account, deleted user, no row, anonymous) 1 of 4.
        Assert.Equal(["2 1 0.5", "2 1 0.5", "1 1 1", "4 1 0.25"], new[] { "team", "business", "free", "" }.Select(p => actual[p]));
        Assert.Equal(Actors.Length, (long)answer["steps"]![0]!["count"]!);
    }

    [Fact]
    public async Task Funnel_steps_can_be_filtered_by_plan_and_account()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);

        var business = await PostFunnelAsync(api, FunnelBody(null, ("plan", "eq", ["business"])));
        var accounts = await PostFunnelAsync(api, FunnelBody("account_seats", ("account", "in", ["1", "3"])));

        Assert.Equal([2L, 1L], business["steps"]!.AsArray().Select(s => (long)s!["count"]!));
        // Accounts 1 (5 seats: u1, u2) and 3 (1 seat: u5).
        Assert.Equal(new Dictionary<string, long> { ["5"] = 2, ["1"] = 1 }.OrderBy(p => p.Key),
            accounts["breakdowns"]!.AsArray().ToDictionary(g => (string)g!["value"]!, g => (long)g!["steps"]![0]!["count"]!).OrderBy(p => p.Key));
    }

    [Fact]
    public async Task Active_users_by_plan_are_exact_per_day()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);

        var answer = await MetricsPlatform.GetJsonAsync(api, $"/v1/active-users?from={Date(-3)}&to={Date(0)}&breakdown=plan");

        Assert.Equal("plan", (string)answer["breakdown"]!);
        Assert.Contains("dim_users", answer["sources"]!.AsArray().Select(s => (string)s!));
        Assert.DoesNotContain("active_users", answer["sources"]!.AsArray().Select(s => (string)s!));
        var activity = ActiveDays();
        var expected = new List<string>();
        foreach (var plan in activity.Select(a => Of(a.Actor).Plan).Distinct().Order(StringComparer.Ordinal))
        {
            for (var day = -3; day <= -1; day++)
            {
                int Count(int span) => activity.Where(a => Of(a.Actor).Plan == plan && a.Day <= day && a.Day > day - span).Select(a => a.Actor).Distinct().Count();
                expected.Add($"{plan}|{Date(day)} {Count(1)} {Count(7)} {Count(30)}");
            }
        }

        var actual = answer["series"]!.AsArray()
            .SelectMany(s => s!["days"]!.AsArray().Select(d => $"{(string)s["breakdown"]!}|{(string)d!["date"]!} {(long)d["dau"]!} {(long)d["wau"]!} {(long)d["mau"]!}"))
            .Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected.Order(StringComparer.Ordinal), actual);
        Assert.DoesNotContain("enterprise", actual.Select(a => a.Split('|')[0]));
    }

    [Fact]
    public async Task Plan_filters_narrow_active_users_and_trends_and_hostile_values_match_nothing()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var range = $"from={Date(-3)}&to={Date(0)}";
        var team = Activity().Where(a => Of(a.Actor).Plan == "team").ToList();

        var teamUsers = await MetricsPlatform.GetJsonAsync(api, $"/v1/active-users?{range}&filter=plan:eq:team");
        var teamOpens = await MetricsPlatform.GetJsonAsync(api, $"/v1/trends?{range}&event=open&filter=plan:eq:team&breakdown=account");
        var hostile = await MetricsPlatform.GetJsonAsync(api, $"/v1/active-users?{range}&filter={Uri.EscapeDataString("plan:eq:team') OR 1=1 --")}");
        var hostileIn = await MetricsPlatform.GetJsonAsync(api, $"/v1/trends?{range}&event=open&filter={Uri.EscapeDataString("plan:in:x' OR '1'='1|y\\' OR 1=1")}");

        var days = Assert.Single(teamUsers["series"]!.AsArray())!["days"]!.AsArray();
        Assert.Equal(Enumerable.Range(-3, 3).Select(d => ActiveDays().Where(a => Of(a.Actor).Plan == "team" && a.Day <= d).Select(a => a.Actor).Distinct().Count()),
            days.Select(d => (int)(long)d!["mau"]!));
        var series = Assert.Single(teamOpens["series"]!.AsArray())!;
        Assert.Equal("1", (string)series["breakdown"]!);
        Assert.Equal(team.Count, (long)series["total"]!);
        Assert.All(Assert.Single(hostile["series"]!.AsArray())!["days"]!.AsArray(), d => Assert.Equal(0, (long)d!["mau"]!));
        Assert.All(hostileIn["series"]!.AsArray(), s => Assert.Equal(0, (long)s!["total"]!));
    }

    [Fact]
    public async Task Grafana_offers_the_plans_of_this_tenants_users_as_a_variable_and_plan_as_a_tag_key()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);

        using var response = await api.PostAsync("/grafana/variable", Http.Json("""{"payload": {"target": "plans"}}"""));
        var plans = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray().Select(v => (string)v!["__value"]!).ToList();

        Assert.Equal(Activity().Select(a => Of(a.Actor).Plan).Where(p => p != "").Distinct().Order(), plans.Order());
    }

    [Fact]
    public async Task Unknown_and_hostile_dimension_names_are_problems()
    {
        var data = await DataAsync();
        using var api = platform.Api(data.Tenant.ReadKey);
        var range = $"from={Date(-3)}&to={Date(0)}";

        foreach (var dimension in new[] { "plan') OR 1=1 --", "dim_plan", "Plan", "seats_of_account", "tenant_id" })
        {
            var problem = await MetricsPlatform.GetProblemAsync(api, $"/v1/active-users?{range}&breakdown={Uri.EscapeDataString(dimension)}");
            Assert.Equal("Unknown dimension", (string)problem["title"]!);
            Assert.Contains("plan, account, account_seats", (string)problem["detail"]!);
            await MetricsPlatform.GetProblemAsync(api, $"/v1/trends?{range}&filter={Uri.EscapeDataString(dimension + ":eq:team")}");
        }

        using var funnel = await api.PostAsync("/v1/funnels", Http.Json(FunnelBody("dim_account").ToJsonString()));
        Assert.Equal(HttpStatusCode.BadRequest, funnel.StatusCode);
    }

    private static JsonObject FunnelBody(string? breakdown, params (string Dimension, string Op, string[] Values)[] entryFilters)
    {
        var filters = new JsonArray(entryFilters.Select(f => (JsonNode)new JsonObject
        {
            ["dimension"] = f.Dimension, ["op"] = f.Op, ["values"] = new JsonArray(f.Values.Select(v => (JsonNode)JsonValue.Create(v)).ToArray()),
        }).ToArray());
        var body = new JsonObject
        {
            ["from"] = Yesterday.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["to"] = Today.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["windowSeconds"] = 3600,
            ["steps"] = new JsonArray(new JsonObject { ["event"] = "signup", ["filters"] = filters }, new JsonObject { ["event"] = "purchase" }),
        };
        if (breakdown is not null)
        {
            body["breakdown"] = breakdown;
        }

        return body;
    }

    private static async Task<JsonObject> PostFunnelAsync(HttpClient api, JsonObject body)
    {
        using var response = await api.PostAsync("/v1/funnels", Http.Json(body.ToJsonString()));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{body.ToJsonString()} answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private static string Date(int day) => Today.AddDays(day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
