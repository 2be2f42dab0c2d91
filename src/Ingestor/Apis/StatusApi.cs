using System.Text.Json;
using System.Text.Json.Serialization;
using Ingestor.Consumption;

namespace Ingestor.Apis;

/// <summary>
/// What the Ingestor knows about its own progress: the last consumer lag sample (the one the
/// <c>ingestor.consumer.lag</c> gauge reports, taken every few seconds) and its counters since start.
/// Read by the Api's pipeline health; no tenant data.
/// </summary>
public static class StatusApi
{
    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/status", (IngestorMetrics metrics) =>
        {
            var lag = metrics.LastLag;
            return TypedResults.Ok(new IngestorStatus(
                lag?.SampledAt,
                lag?.Total,
                lag?.Partitions ?? [],
                new IngestorCounters(
                    metrics.Total("ingestor.events.consumed"),
                    metrics.Total("ingestor.events.inserted"),
                    metrics.Total("ingestor.events.duplicates_dropped"),
                    metrics.Total("ingestor.events.dead_lettered"))));
        }).WithTags("Status");
        return app;
    }
}

/// <summary><see cref="LagSampledAt"/> and <see cref="TotalLag"/> are null until the first sample (a few seconds after the consumer joined).</summary>
public sealed record IngestorStatus(DateTimeOffset? LagSampledAt, long? TotalLag, IReadOnlyList<PartitionLag> Partitions, IngestorCounters Counters);

/// <summary>Totals since this process started.</summary>
public sealed record IngestorCounters(long Consumed, long Inserted, long DuplicatesDropped, long DeadLettered);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(IngestorStatus))]
internal sealed partial class IngestorStatusJsonContext : JsonSerializerContext;
