using System.Diagnostics;

namespace Ingestor;

/// <summary>
/// While a batch cannot be stored (ClickHouse down, a refused insert): since when, how often it was tried,
/// and when to try again, doubling the delay up to a maximum. Shared by the event consumer and the CDC apply.
/// </summary>
internal sealed class Outage(TimeSpan firstDelay)
{
    private readonly Stopwatch _since = Stopwatch.StartNew();
    private TimeSpan _nextAttemptAt = firstDelay;

    public TimeSpan Delay { get; private set; } = firstDelay;

    public int Attempts { get; private set; } = 1;

    public TimeSpan Duration => _since.Elapsed;

    public TimeSpan UntilNextAttempt => _nextAttemptAt - _since.Elapsed;

    /// <summary>How long to wait for the next attempt, never less than zero nor more than <paramref name="max"/> (the poll interval).</summary>
    public TimeSpan UntilNextAttemptAtMost(TimeSpan max) =>
        UntilNextAttempt < TimeSpan.Zero ? TimeSpan.Zero : UntilNextAttempt > max ? max : UntilNextAttempt;

    public void Failed(TimeSpan maxDelay)
    {
        Attempts++;
        Delay = TimeSpan.FromTicks(Math.Min(Delay.Ticks * 2, maxDelay.Ticks));
        _nextAttemptAt = _since.Elapsed + Delay;
    }
}
