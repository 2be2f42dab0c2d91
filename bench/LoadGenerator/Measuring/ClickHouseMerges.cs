using System.Diagnostics;
using Platform.ClickHouse;

namespace LoadGenerator.Measuring;

/// <summary>ClickHouse's background merges: what a load leaves running after it, to wait out before the next measurement.</summary>
public static class ClickHouseMerges
{
    /// <summary>Waits (up to <paramref name="limit"/>) until ClickHouse merges no parts; returns how long that took.</summary>
    public static async Task<TimeSpan> SettledAsync(ClickHouseClient clickHouse, TimeSpan limit, CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < limit && await clickHouse.QueryLongAsync("SELECT count() FROM system.merges", cancellationToken: cancellationToken) > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }

        return waited.Elapsed;
    }
}
