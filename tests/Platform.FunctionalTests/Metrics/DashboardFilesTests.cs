using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Platform.FunctionalTests.Metrics;

/// <summary>
/// The provisioned Grafana files in deploy/grafana, read from the repository: the dashboards parse,
/// every panel, target and variable uses the provisioned data source, and every code-mode payload
/// is valid JSON once Grafana has put its variables in. (That every target is served and answers is
/// asked of the running Api in <see cref="GrafanaTests"/>.)
/// </summary>
public sealed partial class DashboardFilesTests
{
    public static readonly string[] Dashboards = ["product-kpis.json", "pipeline-health.json"];

    private static string GrafanaFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Platform.sln")))
            {
                return Path.Combine(dir.FullName, "deploy", "grafana");
            }
        }

        throw new InvalidOperationException("Platform.sln not found above " + AppContext.BaseDirectory);
    }

    private static JsonObject Dashboard(string file) => JsonNode.Parse(File.ReadAllText(Path.Combine(GrafanaFolder(), "dashboards", file)))!.AsObject();

    /// <summary>Every query target of the dashboards, with its file.</summary>
    public static IEnumerable<(string File, JsonObject Target)> Targets() =>
        Dashboards.SelectMany(file => Dashboard(file)["panels"]!.AsArray().SelectMany(p => p!["targets"]!.AsArray()).Select(t => (file, t!.AsObject())));

    /// <summary>
    /// A code-mode payload as Grafana sends it with the dashboard's variables at their defaults: a
    /// multi-value variable at "All" is its allValue ([]), a single-value one its current value
    /// (JSON-quoted for <c>${name:json}</c>). An unknown variable fails.
    /// </summary>
    public static JsonNode WithVariables(string file, string payload)
    {
        var variables = Variables(Dashboard(file));
        return JsonNode.Parse(Variable().Replace(payload, m =>
        {
            Assert.True(variables.TryGetValue(m.Groups["name"].Value, out var variable), $"{file}: {m.Value} is not a variable of the dashboard");
            if ((bool?)variable["multi"] == true)
            {
                return (string)variable["allValue"]!;
            }

            var value = (string)variable["current"]!["value"]!;
            return m.Groups["format"].Value == "json" ? JsonValue.Create(value).ToJsonString() : value;
        }))!;
    }

    private static Dictionary<string, JsonObject> Variables(JsonObject dashboard) =>
        dashboard["templating"]!["list"]!.AsArray().ToDictionary(v => (string)v!["name"]!, v => v!.AsObject());

    [GeneratedRegex(@"\$(?:\{(?<name>\w+)(?::(?<format>\w+))?\}|(?<name>\w+))")]
    private static partial Regex Variable();

    private static string ProvisionedUid()
    {
        var yaml = File.ReadAllText(Path.Combine(GrafanaFolder(), "provisioning", "datasources", "platform.yaml"));
        Assert.Contains("type: simpod-json-datasource", yaml);
        Assert.Contains("url: ${PLATFORM_API_URL}/grafana", yaml);
        Assert.Contains("httpHeaderName1: Authorization", yaml);
        Assert.Contains("httpHeaderValue1: Bearer ${PLATFORM_API_TOKEN}", yaml);
        return Regex.Match(yaml, @"^\s+uid:\s*(\S+)\s*$", RegexOptions.Multiline).Groups[1].Value;
    }

    [Fact]
    public void Dashboards_use_the_provisioned_data_source_everywhere_and_their_payloads_parse()
    {
        var uid = ProvisionedUid();
        Assert.Equal("platform-json", uid);
        foreach (var file in Dashboards)
        {
            var dashboard = Dashboard(file);
            var panels = dashboard["panels"]!.AsArray();
            Assert.NotEmpty(panels);
            Assert.Equal(panels.Count, panels.Select(p => (int)p!["id"]!).Distinct().Count());
            foreach (var panel in panels)
            {
                Assert.Equal(uid, (string)panel!["datasource"]!["uid"]!);
                Assert.NotEmpty(panel["targets"]!.AsArray());
                foreach (var target in panel["targets"]!.AsArray())
                {
                    Assert.Equal(uid, (string)target!["datasource"]!["uid"]!);
                    Assert.False(string.IsNullOrEmpty((string?)target["target"]), $"{file}/{panel["title"]}: a target without a metric");
                    Assert.IsType<JsonObject>(WithVariables(file, (string)target["payload"]!));
                }
            }

            var variables = Variables(dashboard);
            Assert.Equal("adhoc", (string)variables["filters"]["type"]!);
            foreach (var (name, what) in new[] { ("event", "events"), ("country", "countries") })
            {
                Assert.Equal("query", (string)variables[name]["type"]!);
                Assert.Equal(what, (string)variables[name]["query"]!["query"]!);
                Assert.Equal("[]", (string)variables[name]["allValue"]!);
                Assert.True((bool)variables[name]["multi"]!);
            }

            Assert.All(variables.Values, v => Assert.Equal(uid, (string)v["datasource"]!["uid"]!));
        }
    }

    [Fact]
    public void Product_dashboard_picks_one_feature_and_names_funnel_steps_and_retention_shape()
    {
        var dashboard = Dashboard("product-kpis.json");
        var feature = Variables(dashboard)["feature"];
        Assert.Equal("query", (string)feature["type"]!);
        Assert.Equal("events", (string)feature["query"]!["query"]!);
        Assert.False((bool)feature["multi"]!);
        Assert.False((bool)feature["includeAll"]!);

        var payloads = Targets().Where(t => t.File == "product-kpis.json" && (string)t.Target["target"]! != "events")
            .ToDictionary(t => (string)t.Target["target"]! + "/" + (string)t.Target["refId"]!, t => WithVariables(t.File, (string)t.Target["payload"]!).ToJsonString());
        Assert.Equal("""{"feature":"feature_used","format":"table"}""", payloads["feature_adoption/A"]);
        Assert.Equal("""{"steps":["page_view","signup","purchase"],"window":"1d","format":"table"}""", payloads["funnel/A"]);
        Assert.Equal("""{"grain":"week","periods":"8","format":"table"}""", payloads["retention/A"]);
    }

    [Fact]
    public void Dashboard_provider_points_at_a_folder_of_files()
    {
        var yaml = File.ReadAllText(Path.Combine(GrafanaFolder(), "provisioning", "dashboards", "platform.yaml"));
        Assert.Contains("type: file", yaml);
        Assert.Matches(@"path:\s*/\S+", yaml);
    }
}
