using System.Globalization;
using Platform.ClickHouse;
using Platform.Testing;
using Xunit.Abstractions;

namespace Platform.FunctionalTests;

/// <summary>How a drill ends: what the Collector acknowledged compared with what was stored and counted, per event id.</summary>
internal static class Acknowledgements
{
    /// <summary>
    /// The Api counts exactly the acknowledged events, also after <paramref name="lateCopies"/> more for copies still on
    /// their way, and ClickHouse holds exactly the acknowledged event ids, no other and none missing (the row count,
    /// copies included, goes to the test output).
    /// </summary>
    public static async Task AssertCountedExactlyOnceAsync(PlatformFixture platform, ITestOutputHelper output, HttpClient api, string tenantId, EventSender sender, TimeSpan within, TimeSpan lateCopies, string context)
    {
        var accepted = sender.AcceptedCount;
        var counted = await Eventually.MatchesAsync(() => api.CountAsync(), r => (long)r["total"]! >= accepted, within);
        Assert.Equal(accepted, (long)counted["total"]!);
        await Task.Delay(lateCopies);
        Assert.Equal(accepted, (long)(await api.CountAsync())["total"]!);

        var clickHouse = new ClickHouseClient(new HttpClient(), ClickHouseConnectionSettings.Parse(platform.App["clickhouse"].ConnectionString!));
        var tenant = ClickHouseSql.Literal(tenantId);
        var rows = long.Parse(await clickHouse.QueryScalarAsync($"SELECT count() FROM raw_events WHERE tenant_id = {tenant}"), CultureInfo.InvariantCulture);
        var stored = (await clickHouse.QueryScalarAsync($"SELECT DISTINCT event_id FROM raw_events WHERE tenant_id = {tenant}"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var acknowledged = sender.Accepted.ToHashSet();
        output.WriteLine($"{context}: acknowledged {accepted}, lost {acknowledged.Except(stored).Count()}, doubled 0 (the Api counts {accepted}), "
            + $"stored rows {rows} (copies fold by event id), refusals {sender.Refusals}, connection errors {sender.ConnectionErrors}");
        Assert.Empty(acknowledged.Except(stored));
        Assert.Empty(stored.Except(acknowledged));
    }
}
