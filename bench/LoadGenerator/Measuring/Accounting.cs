using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using LoadGenerator.Platform;
using Platform.ClickHouse;

namespace LoadGenerator.Measuring;

/// <summary>One tenant's books: what the Collector acknowledged, what ClickHouse holds, what the Api counts.</summary>
public sealed record TenantCount(string TenantId, long Accepted, long StoredRows, long StoredDistinct, long ApiCount)
{
    /// <summary>Acknowledged events that no query will ever find.</summary>
    public long Lost => Math.Max(0, Accepted - StoredDistinct);

    /// <summary>Copies of an event in storage (redeliveries not yet folded by a merge); queries count distinct ids, so they fold them.</summary>
    public long DuplicateRows => StoredRows - StoredDistinct;

    /// <summary>Events the platform's own query counts more than once.</summary>
    public long QueriedDuplicates => Math.Max(0, ApiCount - StoredDistinct);

    /// <summary>Stored events the Collector never acknowledged (from a request given up after a 503, say): not lost, not an error.</summary>
    public long StoredUnacknowledged => Math.Max(0, StoredDistinct - Accepted);
}

/// <param name="Backlog">Acknowledged events not yet in ClickHouse when the sending stopped.</param>
/// <param name="StoredPerSecond">How fast that backlog went into ClickHouse with the Collector idle: the Ingestor's own pace.</param>
public sealed record DrainResult(TimeSpan SinceSendEnd, bool Complete, string Reason, long Backlog, double StoredPerSecond);

/// <summary>
/// After the send phase: waits until ClickHouse holds every acknowledged event (or the count stops
/// rising, or a bound), then counts per tenant with <c>count()</c> and <c>uniqExact(event_id)</c>, and asks
/// the Api's <c>/v1/events/count</c> with each tenant's read key for what a user would see.
/// </summary>
public sealed class Accounting(ClickHouseClient clickHouse, IReadOnlyList<BenchTenant> tenants, DateTimeOffset notBefore)
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan Stall = TimeSpan.FromSeconds(15);

    private readonly string _where =
        $"tenant_id IN ({ClickHouseSql.List(tenants.Select(t => t.Id))}) AND event_time >= {ClickHouseSql.Literal(notBefore)}";

    private string Table => ClickHouseSql.Table(clickHouse.Settings.Database, "raw_events");

    public async Task<DrainResult> WaitUntilStoredAsync(long accepted, long sendEnd, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        long last = -1, first = -1;
        var lastChange = Stopwatch.GetTimestamp();
        while (true)
        {
            var asked = Stopwatch.GetTimestamp();
            // count() is cheap enough to ask four times a second; uniqExact only once the rows are all there.
            var rows = long.Parse(await clickHouse.QueryScalarAsync($"SELECT count() FROM {Table} WHERE {_where}", cancellationToken: cancellationToken), CultureInfo.InvariantCulture);
            if (first < 0)
            {
                first = rows;
            }

            DrainResult Result(bool complete, string reason)
            {
                var since = Since(sendEnd, asked);
                var backlog = Math.Max(0, accepted - first);
                return new DrainResult(since, complete, reason, backlog, since > TimeSpan.FromSeconds(0.5) ? (rows - first) / since.TotalSeconds : double.NaN);
            }

            if (rows >= accepted && await DistinctAsync(cancellationToken) >= accepted)
            {
                return Result(true, "every acknowledged event is queryable");
            }

            if (rows != last)
            {
                last = rows;
                lastChange = asked;
            }
            else if (Stopwatch.GetElapsedTime(lastChange) > Stall)
            {
                return Result(false, $"the stored count stopped rising at {rows:N0} for {Stall.TotalSeconds:0} s");
            }

            if (asked > deadline)
            {
                return Result(false, $"not all stored within the drain timeout ({timeout.TotalSeconds:0} s)");
            }

            await Task.Delay(Poll, cancellationToken);
        }
    }

    public async Task<IReadOnlyList<TenantCount>> CountAsync(Uri api, long[] acceptedPerTenant, CancellationToken cancellationToken)
    {
        var text = await clickHouse.QueryScalarAsync(
            $"SELECT tenant_id, count(), uniqExact(event_id) FROM {Table} WHERE {_where} GROUP BY tenant_id", cancellationToken: cancellationToken);
        var stored = text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(f => f[0], f => (Rows: long.Parse(f[1], CultureInfo.InvariantCulture), Distinct: long.Parse(f[2], CultureInfo.InvariantCulture)));

        using var http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(60) };
        var counts = new List<TenantCount>();
        foreach (var tenant in tenants)
        {
            var (rows, distinct) = stored.GetValueOrDefault(tenant.Id);
            counts.Add(new TenantCount(tenant.Id, acceptedPerTenant[tenant.Index], rows, distinct, await ApiCountAsync(http, tenant, cancellationToken)));
        }

        return counts;
    }

    /// <summary>Deletes the run's rows (a mutation, applied in the background) so a long-lived platform is not left holding them.</summary>
    public Task DeleteAsync(CancellationToken cancellationToken) =>
        clickHouse.ExecuteAsync($"ALTER TABLE {Table} DELETE WHERE tenant_id IN ({ClickHouseSql.List(tenants.Select(t => t.Id))})", cancellationToken: cancellationToken);

    private async Task<long> DistinctAsync(CancellationToken cancellationToken) =>
        long.Parse(await clickHouse.QueryScalarAsync($"SELECT uniqExact(event_id) FROM {Table} WHERE {_where}", cancellationToken: cancellationToken), CultureInfo.InvariantCulture);

    private async Task<long> ApiCountAsync(HttpClient http, BenchTenant tenant, CancellationToken cancellationToken)
    {
        var from = Uri.EscapeDataString(notBefore.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        var to = Uri.EscapeDataString(DateTime.UtcNow.AddHours(1).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/events/count?from={from}&to={to}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tenant.ReadKey);
        using var response = await http.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
        return document.RootElement.GetProperty("total").GetInt64();
    }

    private static TimeSpan Since(long sendEnd, long at) => TimeSpan.FromSeconds(Math.Max(0, at - sendEnd) / (double)Stopwatch.Frequency);
}
