using System.Collections.Concurrent;
using Transformer.DataTests;

namespace Transformer.Runs;

/// <summary>The latest known outcome of each model: what the status endpoint, health and the next run read.</summary>
public sealed record ModelState(
    string Model,
    string Status,
    DateTimeOffset? LastRunAt,
    DateTimeOffset? LastSuccessAt,
    long Rows,
    TimeSpan Duration,
    string? Error,
    IReadOnlyList<DataTestResult> Tests,
    bool BlocksDependents)
{
    public static ModelState NeverBuilt(string model) => new(model, "never built", null, null, 0, TimeSpan.Zero, null, [], false);

    /// <summary>The status of a model that has never been built because an optional source it reads does not exist yet.</summary>
    public const string WaitingForSource = "waiting for source";

    /// <summary>Dependents must not build on this model's current data.</summary>
    public bool Unusable => Status == "failed" || BlocksDependents || LastSuccessAt is null;
}

/// <summary>In-memory, seeded from the run history in ClickHouse at the first run after start.</summary>
public sealed class ModelStates
{
    private readonly ConcurrentDictionary<string, ModelState> _states = new(StringComparer.Ordinal);

    public bool Seeded { get; private set; }

    public ModelState? this[string model] => _states.TryGetValue(model, out var state) ? state : null;

    public IReadOnlyCollection<ModelState> All => _states.Values.OrderBy(s => s.Model, StringComparer.Ordinal).ToList();

    public void Seed(IEnumerable<ModelState> states)
    {
        foreach (var state in states)
        {
            _states.TryAdd(state.Model, state);
        }

        Seeded = true;
    }

    public void Record(ModelRunResult result)
    {
        _states.AddOrUpdate(result.Model, _ => Next(null, result), (_, previous) => Next(previous, result));
    }

    public void RecordTests(string model, IReadOnlyList<DataTestResult> tests, bool blocks) =>
        _states.AddOrUpdate(
            model,
            _ => ModelState.NeverBuilt(model) with { Tests = tests, BlocksDependents = blocks },
            (_, previous) => previous with { Tests = tests, BlocksDependents = blocks });

    private static ModelState Next(ModelState? previous, ModelRunResult result) => result.Status switch
    {
        // A skip says nothing new about the model's data: keep what was known, note why it skipped.
        ModelRunStatus.Skipped => (previous ?? ModelState.NeverBuilt(result.Model)) with { Error = result.Error },
        // Waiting keeps the model's data (if it was ever built); a never-built model says what it waits for.
        ModelRunStatus.Waiting => previous?.LastSuccessAt is null
            ? ModelState.NeverBuilt(result.Model) with { Status = ModelState.WaitingForSource, LastRunAt = result.FinishedAt, Error = result.Error }
            : previous with { Error = result.Error },
        ModelRunStatus.Failed => new ModelState(result.Model, "failed", result.FinishedAt, previous?.LastSuccessAt, 0, result.Duration, result.Error, previous?.Tests ?? [], previous?.BlocksDependents ?? false),
        _ => new ModelState(result.Model, "succeeded", result.FinishedAt, result.FinishedAt, result.Rows, result.Duration, null, result.Tests, result.BlocksDependents),
    };
}
