using System.Text.Json;
using System.Text.Json.Serialization;
using Transformer.Models;
using Transformer.Runs;
using Transformer.Scheduling;

namespace Transformer.Apis;

/// <summary>What the Transformer knows about each model: latest build, data tests, schedule.</summary>
public static class StatusApi
{
    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        var status = app.MapGroup("/v1/status").WithTags("Status");
        status.MapGet("/", (ModelRunner runner, ScheduleService schedule) =>
            TypedResults.Ok(new TransformerStatus(
                runner.Project.Models.Select(m => Describe(m, runner.States[m.Name] ?? ModelState.NeverBuilt(m.Name))).ToList(),
                schedule.Groups)));
        status.MapGet("/{model}", IResult (string model, ModelRunner runner) =>
            runner.Project.Contains(model)
                ? TypedResults.Ok(Describe(runner.Project[model], runner.States[model] ?? ModelState.NeverBuilt(model)))
                : TypedResults.Problem(title: "Unknown model", detail: $"No model is named '{model}'.", statusCode: StatusCodes.Status404NotFound));
        return app;
    }

    private static ModelStatus Describe(Model model, ModelState state) => new(
        model.Name,
        model.Layer,
        model.MaterializedName,
        model.Config.Group,
        model.DependsOn,
        state.Status,
        state.LastRunAt,
        state.LastSuccessAt,
        state.Rows,
        (long)state.Duration.TotalMilliseconds,
        state.Error,
        state.BlocksDependents,
        state.Tests.Select(t => new TestStatus(t.Test, t.Status, t.Failures, t.Samples.Select(Parse).ToList(), t.Error)).ToList());

    private static JsonElement Parse(string sample)
    {
        try
        {
            using var document = JsonDocument.Parse(sample);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(sample, StatusJsonContext.Default.String);
        }
    }
}

public sealed record TransformerStatus(IReadOnlyList<ModelStatus> Models, IReadOnlyList<GroupSchedule> Schedules);

public sealed record ModelStatus(
    string Name,
    string Layer,
    string Materialized,
    string Group,
    IReadOnlyList<string> DependsOn,
    string Status,
    DateTimeOffset? LastRunAt,
    DateTimeOffset? LastSuccessAt,
    long Rows,
    long DurationMs,
    string? Error,
    bool BlocksDependents,
    IReadOnlyList<TestStatus> Tests);

public sealed record TestStatus(string Test, string Status, long Failures, IReadOnlyList<JsonElement> Samples, string? Error);

[JsonSerializable(typeof(TransformerStatus))]
[JsonSerializable(typeof(ModelStatus))]
[JsonSerializable(typeof(string))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
