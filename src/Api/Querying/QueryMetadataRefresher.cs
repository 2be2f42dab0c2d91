using Microsoft.Extensions.Options;

namespace Api.Querying;

/// <summary>
/// Reloads what every query consults before it runs (the build history behind <see cref="ModelWatermarks"/>
/// and the recently asking tenants' <see cref="LateArrivals"/>) twice per <see cref="ApiOptions.WatermarkCacheDuration"/>,
/// so requests find it fresh instead of reading it themselves. A failed round is left to the requests,
/// which then load what they need and report the error.
/// </summary>
public sealed class QueryMetadataRefresher(
    ModelWatermarks watermarks, LateArrivals lateArrivals, IOptions<ApiOptions> options, TimeProvider time, ILogger<QueryMetadataRefresher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = options.Value.WatermarkCacheDuration / 2;
        if (period < TimeSpan.FromMilliseconds(100))
        {
            return; // Caching is (nearly) off: every request reads for itself.
        }

        using var timer = new PeriodicTimer(period, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await watermarks.RefreshAsync(stoppingToken);
                await lateArrivals.RefreshAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug(ex, "Refreshing query metadata failed; requests read it themselves until a round succeeds");
            }
        }
    }
}
