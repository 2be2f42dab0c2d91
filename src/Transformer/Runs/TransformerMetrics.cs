using System.Diagnostics.Metrics;

namespace Transformer.Runs;

/// <summary>Builds and data tests as OpenTelemetry instruments, tagged by model and outcome.</summary>
public sealed class TransformerMetrics
{
    public const string MeterName = "Platform.Transformer";

    private readonly Counter<long> _builds;
    private readonly Histogram<double> _buildDuration;
    private readonly Counter<long> _rows;
    private readonly Counter<long> _failedTests;

    public TransformerMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _builds = meter.CreateCounter<long>("transformer.builds", description: "Model builds by model and status (succeeded, failed, skipped, waiting).");
        _buildDuration = meter.CreateHistogram<double>("transformer.build.duration", unit: "s", description: "How long a model build took.");
        _rows = meter.CreateCounter<long>("transformer.rows", description: "Rows written by model builds.");
        _failedTests = meter.CreateCounter<long>("transformer.data_tests.failed", description: "Data test runs that failed, by model and test.");
    }

    public void Record(ModelRunResult result)
    {
        var model = new KeyValuePair<string, object?>("model", result.Model);
        _builds.Add(1, model, new("status", result.StatusName));
        if (result.Status is not (ModelRunStatus.Skipped or ModelRunStatus.Waiting))
        {
            _buildDuration.Record(result.Duration.TotalSeconds, model);
            _rows.Add(result.Rows, model);
        }

        foreach (var test in result.Tests.Where(t => !t.Passed))
        {
            _failedTests.Add(1, model, new("test", test.Test));
        }
    }
}
