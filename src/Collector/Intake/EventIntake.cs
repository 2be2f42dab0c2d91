using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Platform.Events;
using Platform.Tenancy;

namespace Collector.Intake;

/// <summary>What became of a request's events: how many were stored, and why the others were refused.</summary>
public sealed record IntakeResult(int Accepted, int Rejected, IReadOnlyList<EventError> Errors);

/// <summary>Reads one item of a request into an event, or records why it cannot.</summary>
public delegate IncomingEvent? ItemReader(JsonElement item, int index, List<EventError> errors);

/// <summary>
/// The intake flow both formats share once their items are known: per-event checks, the tenant's
/// rate limit, server-side completion (time, id, PII), and one acknowledged write of the accepted
/// events and the dead letters. The caller shapes the success answer; refusals are problems here.
/// </summary>
public sealed class EventIntake(EventPublisher publisher, TenantDirectory tenants, IntakeRateLimiter rateLimiter, IngestBacklog backlog, IOptions<CollectorOptions> options, TimeProvider time,
    Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime)
{
    private static readonly Meter Meter = new("Platform.Collector");
    private static readonly Counter<long> Accepted = Meter.CreateCounter<long>("collector.events.accepted", description: "Events acknowledged by Kafka and answered 2xx.");
    private static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>("collector.events.dead_lettered", description: "Refused events kept in the dead-letter topic.");
    private static readonly Counter<long> Limited = Meter.CreateCounter<long>("collector.events.rate_limited", description: "Events of requests refused by the tenant's rate limit.");
    private static readonly Counter<long> Unacknowledged = Meter.CreateCounter<long>("collector.events.unacknowledged", description: "Events answered 503 because Kafka did not acknowledge them in time.");
    private static readonly Counter<long> Backpressured = Meter.CreateCounter<long>("collector.events.backpressured", description: "Events answered 503 because the Ingestor was too far behind.");

    public async Task<(IntakeResult? Result, ProblemHttpResult? Problem)> AcceptAsync(
        HttpContext http, string tenantId, IReadOnlyList<JsonElement> items, ItemReader read, CancellationToken cancellationToken)
    {
        var limits = options.Value;
        // Stopping: requests that reach us while the server drains its connections are refused, never half-taken.
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            http.Response.Headers.RetryAfter = "5";
            return (null, IntakeProblems.Create(StatusCodes.Status503ServiceUnavailable, "Collector stopping",
                "This Collector is shutting down and accepts no more events. Retry with the same event ids."));
        }

        if (items.Count == 0)
        {
            return (null, IntakeProblems.Create(StatusCodes.Status400BadRequest, "No events", "The request contains no events."));
        }

        if (items.Count > limits.MaxEventsPerRequest)
        {
            return (null, IntakeProblems.Create(StatusCodes.Status413PayloadTooLarge, "Too many events", $"A request may carry at most {limits.MaxEventsPerRequest} events."));
        }

        var tenant = await tenants.GetIntakeProfileAsync(tenantId, cancellationToken)
            ?? throw new InvalidOperationException($"The key's tenant '{tenantId}' does not exist.");
        if (rateLimiter.TryAcquire(tenant, items.Count) is { } retryAfter)
        {
            Limited.Add(items.Count);
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString();
            return (null, IntakeProblems.Create(StatusCodes.Status429TooManyRequests, "Too many events",
                $"Tenant '{tenantId}' may send {tenant.Settings.EventsPerSecond ?? limits.RateLimits.EventsPerSecondPerTenant} events per second; retry after the Retry-After interval."));
        }

        if (backlog.IsOverloaded)
        {
            Backpressured.Add(items.Count);
            http.Response.Headers.RetryAfter = "2";
            return (null, IntakeProblems.Create(StatusCodes.Status503ServiceUnavailable, "Ingest backlog too large",
                $"The Ingestor is {backlog.LargestPartitionBacklog} events behind on a partition; new events are refused until it catches up, so that none can be dropped by the broker. Retry with the same event ids."));
        }

        var receivedAt = time.GetUtcNow();
        var errors = new List<EventError>();
        var accepted = new List<CollectedEvent>(items.Count);
        var deadLetters = new List<DeadLetter>();
        for (var i = 0; i < items.Count; i++)
        {
            var before = errors.Count;
            if (read(items[i], i, errors) is { } incoming && EventCompleter.Complete(incoming, i, tenant, receivedAt, limits, errors) is { } collected)
            {
                accepted.Add(collected);
            }
            else if (errors.Count > before)
            {
                var first = errors[before];
                deadLetters.Add(new DeadLetter(tenantId, i, first.Field, string.Join("; ", errors.Skip(before).Select(e => $"{e.Field}: {e.Reason}")), items[i].GetRawText()));
            }
        }

        if (!await publisher.PublishAsync(accepted, deadLetters, receivedAt, cancellationToken))
        {
            Unacknowledged.Add(items.Count);
            http.Response.Headers.RetryAfter = "5";
            return (null, IntakeProblems.Create(StatusCodes.Status503ServiceUnavailable, "Event store unavailable",
                "Kafka did not acknowledge the events in time; nothing in this request is guaranteed stored. Retry with the same event ids."));
        }

        Accepted.Add(accepted.Count);
        DeadLettered.Add(deadLetters.Count);
        if (accepted.Count == 0)
        {
            return (null, IntakeProblems.Create(StatusCodes.Status400BadRequest, "No valid events", "Every event in the request was refused; they are kept in the dead-letter topic.", errors));
        }

        return (new IntakeResult(accepted.Count, deadLetters.Count, errors), null);
    }

    /// <summary>A body refused as a whole still goes to the dead-letter topic, so a broken sender's data can be recovered.</summary>
    public async Task DeadLetterBodyAsync(string tenantId, byte[] body, ProblemHttpResult problem, CancellationToken cancellationToken)
    {
        var raw = Encoding.UTF8.GetString(body);
        await publisher.PublishAsync([], [new DeadLetter(tenantId, -1, "", $"{problem.ProblemDetails.Title}: {problem.ProblemDetails.Detail}", raw)], time.GetUtcNow(), cancellationToken);
    }
}
