using System.Text.Json;
using System.Text.Json.Serialization;
using Platform.ClickHouse;
using Transformer.Models;

namespace Transformer.DataTests;

/// <summary>The outcome of one data test: passed, or how many rows failed and a few of them.</summary>
public sealed record DataTestResult(string Model, string Test, bool Passed, long Failures, IReadOnlyList<string> Samples, string? Error = null)
{
    public string Status => Error is not null ? "error" : Passed ? "passed" : "failed";
}

/// <summary>Runs a model's declared data tests against its live table.</summary>
public sealed class DataTestRunner(ClickHouseClient client, TransformerOptions options)
{
    public async Task<IReadOnlyList<DataTestResult>> RunAsync(Model model, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Rendered with a window that ends now, so a freshness test is judged by the runner's clock.
        var context = new RenderContext(client.Settings.Database, model.Name, new BuildWindow(BuildWindow.AllTime.Start, now));
        var results = new List<DataTestResult>();
        foreach (var test in model.Config.Tests)
        {
            results.Add(await RunOneAsync(model, test, context, cancellationToken));
        }

        return results;
    }

    private async Task<DataTestResult> RunOneAsync(Model model, DataTestDefinition test, RenderContext context, CancellationToken cancellationToken)
    {
        var failing = test.FailingRowsSql(context);
        var queryOptions = new ClickHouseQueryOptions { MaxExecutionTime = options.BuildTimeout, Readonly = true, Settings = options.BuildSettings };
        try
        {
            var failures = await client.QueryLongAsync($"SELECT count() FROM ({failing})", queryOptions, cancellationToken);
            var samples = new List<string>();
            if (failures > 0 && options.TestFailureSamples > 0)
            {
                var rows = await client.QueryAsync($"SELECT * FROM ({failing}) LIMIT {options.TestFailureSamples}", DataTestJsonContext.Default.JsonElement, queryOptions, cancellationToken);
                samples.AddRange(rows.Select(r => r.GetRawText()));
            }

            return new DataTestResult(model.Name, test.Name, failures == 0, failures, samples);
        }
        catch (ClickHouseServerException ex) when (ex.IsQueryError)
        {
            // A test that cannot run (a column renamed away, a bad custom query) is a failure to see, not a pass.
            return new DataTestResult(model.Name, test.Name, false, 0, [], ex.Message);
        }
    }
}

[JsonSerializable(typeof(JsonElement))]
internal sealed partial class DataTestJsonContext : JsonSerializerContext;
