using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using LoadGenerator.Events;
using LoadGenerator.Measuring;
using LoadGenerator.Platform;

namespace LoadGenerator.Load;

/// <summary>What the send phase did, summed over all workers.</summary>
public sealed record LoadResult(
    TimeSpan Elapsed,
    long Requests,
    long[] AcceptedPerTenant,
    long RefusedEvents,
    long Retries,
    long UnacknowledgedEvents,
    IReadOnlyDictionary<string, long> Failures,
    Percentiles LatencyMs,
    long[] AcceptedEachSecond,
    long BodyBytes)
{
    public long Accepted => AcceptedPerTenant.Sum();

    public double AcceptedPerSecondAverage => Accepted / Elapsed.TotalSeconds;
}

/// <summary>
/// The send phase: <c>concurrency</c> workers, each with one request in flight, post pre-serialised
/// bodies to the Collector until the duration is over (or at an offered rate), round-robin over the
/// run's tenants. A refused or failed request is retried with the same event ids, as an SDK does, so
/// every event is either acknowledged or counted as unacknowledged: the loss accounting stays exact.
/// </summary>
public sealed class LoadRunner(BenchOptions options, Uri collector, IReadOnlyList<BenchTenant> tenants, RequestBodies bodies, EventIds ids)
{
    private const int MaxAttempts = 5;
    private const int BodyTemplates = 64;
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(2);

    private readonly Uri _events = new(collector, "/v1/events");
    private readonly AuthenticationHeaderValue[] _auth = tenants
        .Select(t => new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(t.WriteKey + ":"))))
        .ToArray();

    private long _nextRequest;

    public static int TemplatesFor(SendMode mode) => mode == SendMode.Batch ? BodyTemplates : 4096;

    /// <summary>Sends for <paramref name="duration"/>; <paramref name="probes"/> null sends no freshness probes (a warm-up).</summary>
    public async Task<LoadResult> RunAsync(TimeSpan duration, FreshnessProbes? probes, CancellationToken cancellationToken)
    {
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = options.Concurrency,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };

        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var seconds = new long[(int)Math.Ceiling(duration.TotalSeconds) + 60];
        var workers = Enumerable.Range(0, options.Concurrency)
            .Select(w => Task.Run(() => WorkerAsync(http, w, started, deadline, seconds, probes, cancellationToken), CancellationToken.None))
            .ToArray();
        var stats = await Task.WhenAll(workers);
        var elapsed = Stopwatch.GetElapsedTime(started);

        var failures = stats.SelectMany(s => s.Failures).GroupBy(f => f.Key).ToDictionary(g => g.Key, g => g.Sum(f => f.Value));
        var accepted = new long[tenants.Count];
        foreach (var s in stats)
        {
            for (var t = 0; t < accepted.Length; t++)
            {
                accepted[t] += s.Accepted[t];
            }
        }

        var wholeSeconds = (int)Math.Floor(elapsed.TotalSeconds);
        return new LoadResult(
            elapsed,
            stats.Sum(s => s.Requests),
            accepted,
            stats.Sum(s => s.Refused),
            stats.Sum(s => s.Retries),
            stats.Sum(s => s.Unacknowledged),
            failures,
            new Percentiles(stats.SelectMany(s => s.LatencyTicks).Select(t => t * 1000.0 / Stopwatch.Frequency)),
            seconds[..Math.Min(wholeSeconds, seconds.Length)],
            stats.Sum(s => s.BodyBytes));
    }

    private async Task<WorkerStats> WorkerAsync(
        HttpClient http, int worker, long started, long deadline, long[] seconds, FreshnessProbes? probes, CancellationToken cancellationToken)
    {
        var stats = new WorkerStats(tenants.Count);
        var buffer = new byte[bodies.MaxLength];
        var compressed = options.Gzip ? new MemoryStream(bodies.MaxLength / 4) : null;

        // An offered rate is split evenly over the workers; each keeps its own schedule, staggered.
        var interval = options.Rate > 0 ? (long)(Stopwatch.Frequency * (double)options.Concurrency * bodies.EventsPerRequest / options.Rate) : 0;
        var scheduled = started + interval * worker / options.Concurrency;

        while (!cancellationToken.IsCancellationRequested)
        {
            if (interval > 0)
            {
                var wait = scheduled - Stopwatch.GetTimestamp();
                if (wait > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency), cancellationToken).ConfigureAwait(false);
                }

                scheduled += interval;
            }

            var now = Stopwatch.GetTimestamp();
            if (now >= deadline)
            {
                break;
            }

            var request = Interlocked.Increment(ref _nextRequest) - 1;
            var tenant = (int)(request % tenants.Count);
            var first = ids.Reserve(bodies.EventsPerRequest);
            var length = bodies.Write(request, first, ids, DateTimeOffset.UtcNow, buffer);
            var body = new ArraySegment<byte>(buffer, 0, length);
            if (compressed is not null)
            {
                compressed.SetLength(0);
                using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
                {
                    gzip.Write(buffer, 0, length);
                }

                body = new ArraySegment<byte>(compressed.GetBuffer(), 0, (int)compressed.Length);
            }

            var isProbe = probes?.TryTake(now) == true;
            var sentAt = Stopwatch.GetTimestamp();
            var accepted = await SendAsync(http, tenant, body, stats, cancellationToken).ConfigureAwait(false);
            stats.Requests++;
            stats.BodyBytes += body.Count;
            if (accepted > 0)
            {
                stats.Accepted[tenant] += accepted;
                var second = (int)((Stopwatch.GetTimestamp() - started) / Stopwatch.Frequency);
                if (second < seconds.Length)
                {
                    Interlocked.Add(ref seconds[second], accepted);
                }

                if (isProbe)
                {
                    probes!.Accepted(ids.Format(first), sentAt);
                }
            }
        }

        return stats;
    }

    /// <summary>Sends one body until the Collector acknowledges it or it is given up; returns the events accepted.</summary>
    private async Task<int> SendAsync(HttpClient http, int tenant, ArraySegment<byte> body, WorkerStats stats, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var content = new ByteArrayContent(body.Array!, body.Offset, body.Count);
            content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
            if (options.Gzip)
            {
                content.Headers.TryAddWithoutValidation("Content-Encoding", "gzip");
            }

            using var request = new HttpRequestMessage(HttpMethod.Post, _events) { Content = content };
            request.Headers.Authorization = _auth[tenant];
            TimeSpan? retryAfter = null;
            string failure;
            var started = Stopwatch.GetTimestamp();
            try
            {
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    stats.LatencyTicks.Add(Stopwatch.GetTimestamp() - started);
                    var (accepted, refused) = ReadIntakeResult(await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false));
                    stats.Refused += refused;
                    return accepted;
                }

                failure = $"HTTP {(int)response.StatusCode}";
                retryAfter = response.Headers.RetryAfter?.Delta;
                if (!IsRetryable(response.StatusCode))
                {
                    // A 4xx other than 429 is the generator's fault: retrying the same body cannot help.
                    stats.Fail(failure);
                    stats.Unacknowledged += bodies.EventsPerRequest;
                    return 0;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                failure = ex is TaskCanceledException ? "timeout" : "connection error";
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C: this body's fate is unknown; count it as unacknowledged, like any given-up request.
                stats.Unacknowledged += bodies.EventsPerRequest;
                return 0;
            }

            stats.Fail(failure);
            if (attempt == MaxAttempts)
            {
                stats.Unacknowledged += bodies.EventsPerRequest;
                return 0;
            }

            stats.Retries++;
            var backoff = TimeSpan.FromMilliseconds(100 * (1 << (attempt - 1)));
            var delay = retryAfter is { } hinted && hinted < MaxRetryDelay ? hinted : backoff < MaxRetryDelay ? backoff : MaxRetryDelay;
            try
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                stats.Unacknowledged += bodies.EventsPerRequest;
                return 0;
            }
        }
    }

    private static bool IsRetryable(HttpStatusCode status) => status == HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>Reads <c>{"accepted": N, "rejected": M, ...}</c> without building a document.</summary>
    private static (int Accepted, int Refused) ReadIntakeResult(byte[] body)
    {
        var reader = new Utf8JsonReader(body);
        int accepted = 0, refused = 0;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
            {
                var isAccepted = reader.ValueTextEquals("accepted"u8);
                var isRefused = reader.ValueTextEquals("rejected"u8);
                reader.Read();
                if (isAccepted)
                {
                    accepted = reader.GetInt32();
                }
                else if (isRefused)
                {
                    refused = reader.GetInt32();
                }
                else
                {
                    reader.Skip();
                }
            }
        }

        return (accepted, refused);
    }

    private sealed class WorkerStats(int tenants)
    {
        public long Requests;
        public long Refused;
        public long Retries;
        public long Unacknowledged;
        public long BodyBytes;
        public readonly long[] Accepted = new long[tenants];
        public readonly List<long> LatencyTicks = new(1024);
        public readonly Dictionary<string, long> Failures = [];

        public void Fail(string reason) => Failures[reason] = Failures.GetValueOrDefault(reason) + 1;
    }
}
