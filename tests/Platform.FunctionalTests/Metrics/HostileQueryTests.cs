using System.Net;
using Platform.Testing;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// Every string parameter of the metrics endpoints with injection attempts, absurd ranges and
/// oversized lists: names and values stay values (an answer about no data), anything that is not a
/// whitelisted dimension, zone, interval or bound is a 400 problem naming the parameter, never a 500,
/// and no answer ever holds another tenant's rows.
/// </summary>
[Collection(MetricsCollection.Name)]
public sealed class HostileQueryTests(MetricsPlatform platform)
{
    private static readonly string[] Injections =
    [
        "x' OR 1=1 --",
        "open') OR tenant_id != '' --",
        "\\' UNION ALL SELECT * FROM system.tables --",
        "`; DROP TABLE raw_events; --",
        "open\u0000",
        "${jndi:ldap://x}",
        "' || (SELECT count() FROM raw_events) || '",
    ];

    [Fact]
    public async Task InjectionAttemptsAreValuesOrClearRejectionsAndNeverReachAnotherTenant()
    {
        var mine = await platform.CreateTenantAsync();
        var theirs = await platform.CreateTenantAsync();
        var time = DateTimeOffset.UtcNow.AddMinutes(-3);
        // The other tenant sends events whose properties are the injection strings themselves (event names
        // are restricted at intake, so theirs is the one name the Collector accepts that looks like one).
        await platform.SendAsync(theirs, Injections.Where(i => !i.Contains('\u0000')).Select(i => TestEvents.Track("x OR 1 --", "u1", time, country: "DE",
            properties: new System.Text.Json.Nodes.JsonObject { ["plan"] = i })));
        await platform.SendAsync(mine, [TestEvents.Track("open", "u1", time, country: "FR")]);
        await platform.WaitForStoredAsync(mine, 1);
        await platform.WaitForStoredAsync(theirs, Injections.Length - 1);
        using var api = platform.Api(mine.ReadKey);

        foreach (var bad in Injections)
        {
            var e = Uri.EscapeDataString(bad);
            foreach (var path in new[]
            {
                $"/v1/trends?event={e}", $"/v1/trends?event=open&filter=country:eq:{e}", $"/v1/trends?filter=property.plan:in:{e}|x",
                $"/v1/trends?breakdown=property.{e}", $"/v1/active-users?filter=event_name:eq:{e}", $"/v1/trends?event=open&filter=property.{e}:contains:a",
            })
            {
                using var response = await api.GetAsync(path);
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"{path}: {(int)response.StatusCode} {body}");
                Assert.False(body.Contains("\"DE\"", StringComparison.Ordinal), $"{path}: {body}");
                Assert.DoesNotContain(theirs.Id, body, StringComparison.Ordinal);
                if (response.StatusCode == HttpStatusCode.OK && path.StartsWith("/v1/trends", StringComparison.Ordinal))
                {
                    // Mine has one event; the other tenant's six never add to an answer.
                    var totals = System.Text.Json.Nodes.JsonNode.Parse(body)!["series"]!.AsArray().Select(s => (long)s!["total"]!);
                    Assert.True(totals.All(t => t <= 1), $"{path}: {body}");
                }
            }

            foreach (var path in new[]
            {
                $"/v1/trends?breakdown={e}", $"/v1/trends?interval={e}", $"/v1/trends?measure={e}", $"/v1/trends?tz={e}", $"/v1/trends?from={e}",
                $"/v1/trends?to={e}", $"/v1/trends?source={e}", $"/v1/trends?filter={e}", $"/v1/trends?filter=country:{e}:x",
                $"/v1/active-users?breakdown={e}", $"/v1/active-users?tz={e}", $"/v1/active-users?from={e}", $"/v1/active-users?source={e}",
            })
            {
                var problem = await MetricsPlatform.GetProblemAsync(api, path);
                Assert.False(string.IsNullOrEmpty((string?)problem["parameter"]), path);
            }
        }
    }

    [Theory]
    [InlineData("/v1/trends?from=0001-01-01", "from")]
    [InlineData("/v1/trends?from=2026-01-10&to=2026-01-01", "from")]
    [InlineData("/v1/trends?from=1990-01-01&to=2099-01-01", "from")]
    [InlineData("/v1/trends?from=2026-01-01T00:00:00", "from")]
    [InlineData("/v1/trends?interval=minute&from=2026-01-01&to=2026-02-01", "interval")]
    [InlineData("/v1/trends?interval=year", "interval")]
    [InlineData("/v1/trends?tz=Mars/Olympus_Mons", "tz")]
    [InlineData("/v1/trends?tz=../../etc/passwd", "tz")]
    [InlineData("/v1/trends?breakdown=tenant_id", "breakdown")]
    [InlineData("/v1/trends?breakdown=properties", "breakdown")]
    [InlineData("/v1/trends?filter=country:like:DE", "filter")]
    [InlineData("/v1/active-users?from=2026-01-01&to=2099-12-31", "from")]
    [InlineData("/v1/active-users?breakdown=user_id", "breakdown")]
    public async Task AbsurdQuestionsAreA400NamingTheParameter(string path, string parameter)
    {
        var tenant = await platform.CreateTenantAsync();
        var problem = await MetricsPlatform.GetProblemAsync(platform.Api(tenant.ReadKey), path);
        Assert.Equal(parameter, (string?)problem["parameter"]);
        Assert.False(string.IsNullOrEmpty((string?)problem["detail"]));
    }

    [Fact]
    public async Task HugeListsAndLongNamesAreRefused()
    {
        var tenant = await platform.CreateTenantAsync();
        using var api = platform.Api(tenant.ReadKey);
        var manyEvents = string.Join("&", Enumerable.Range(0, 21).Select(i => $"event=e{i}"));
        var manyFilters = string.Join("&", Enumerable.Range(0, 21).Select(i => $"filter=country:eq:C{i}"));
        Assert.Equal("event", (string?)(await MetricsPlatform.GetProblemAsync(api, "/v1/trends?" + manyEvents))["parameter"]);
        Assert.Equal("filter", (string?)(await MetricsPlatform.GetProblemAsync(api, "/v1/trends?" + manyFilters))["parameter"]);
        Assert.Equal("event", (string?)(await MetricsPlatform.GetProblemAsync(api, "/v1/trends?event=" + new string('a', 129)))["parameter"]);
        Assert.Equal("filter", (string?)(await MetricsPlatform.GetProblemAsync(api, "/v1/trends?filter=os:in:" + string.Join("|", Enumerable.Range(0, 101))))["parameter"]);
    }
}
