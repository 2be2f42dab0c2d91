using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;

namespace Platform.FunctionalTests;

/// <summary>
/// Posts batches of events with known ids as an SDK does: a batch not answered 202 is sent again with
/// the same ids after its Retry-After delay. Knows every id the Collector acknowledged.
/// </summary>
internal sealed class EventSender(HttpClient collector, string prefix, int batchSize)
{
    private readonly ConcurrentDictionary<string, bool> _accepted = new();
    private int _batches;
    private int _refusals;
    private int _connectionErrors;

    public int AcceptedCount => _accepted.Count;

    public IReadOnlyCollection<string> Accepted => [.. _accepted.Keys];

    /// <summary>Answers other than 202 (each followed by a resend).</summary>
    public int Refusals => _refusals;

    /// <summary>Requests that got no answer (connection refused or reset), each followed by a resend.</summary>
    public int ConnectionErrors => _connectionErrors;

    public IReadOnlyList<string> NextBatch()
    {
        var batch = Interlocked.Increment(ref _batches);
        return [.. Enumerable.Range(0, batchSize).Select(i => $"{prefix}-{batch}-{i}")];
    }

    /// <summary>Posts once; the ids count as acknowledged when the answer is 202.</summary>
    public async Task<HttpResponseMessage> PostAsync(IReadOnlyList<string> ids)
    {
        var body = new JsonArray([.. ids.Select((id, i) => JsonNode.Parse(Http.Event("fault_probe", $"u{i % 7}", id)))]);
        var response = await collector.PostAsync("/v1/events", Http.Json(body.ToJsonString()));
        if (response.StatusCode == HttpStatusCode.Accepted)
        {
            foreach (var id in ids)
            {
                _accepted[id] = true;
            }
        }
        else
        {
            Interlocked.Increment(ref _refusals);
        }

        return response;
    }

    /// <summary>Posts until 202, waiting Retry-After (at most 5 s) between attempts; fails after <paramref name="timeout"/>.</summary>
    public async Task PostUntilAcceptedAsync(IReadOnlyList<string> ids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            HttpStatusCode status;
            TimeSpan retryAfter;
            try
            {
                using var response = await PostAsync(ids);
                status = response.StatusCode;
                retryAfter = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref _connectionErrors);
                status = 0;
                retryAfter = TimeSpan.FromSeconds(1);
            }

            if (status == HttpStatusCode.Accepted)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The batch starting {ids[0]} was not accepted within {timeout.TotalSeconds:0} s (last answer {(int)status}).");
            }

            await Task.Delay(retryAfter < TimeSpan.FromSeconds(5) ? retryAfter : TimeSpan.FromSeconds(5));
        }
    }

    /// <summary>Keeps sending new batches until <paramref name="stop"/>; a batch in flight is always finished, so every id sent is acknowledged.</summary>
    public async Task RunAsync(TimeSpan pause, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            await PostUntilAcceptedAsync(NextBatch(), TimeSpan.FromMinutes(1));
            await Task.Delay(pause, CancellationToken.None);
        }
    }
}
