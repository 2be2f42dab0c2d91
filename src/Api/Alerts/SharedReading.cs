namespace Api.Alerts;

/// <summary>
/// One source (Kafka's offsets, ClickHouse's system tables, the Ingestor's status) read once for every rule of a tick that
/// needs it: a reading started less than <c>freshFor</c> ago is shared. It runs under its own timeout, not a rule's, so one
/// rule's timeout does not cancel it for the others; each rule waits for it under its own.
/// </summary>
public sealed class SharedReading<T>(Func<CancellationToken, Task<T>> read, TimeSpan freshFor, TimeSpan timeout, TimeProvider time)
{
    private readonly Lock _gate = new();
    private (DateTimeOffset StartedAt, Task<T> Reading)? _last;

    public Task<T> GetAsync(CancellationToken cancellationToken)
    {
        Task<T> reading;
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_last is not { } last || now - last.StartedAt >= freshFor)
            {
                last = (now, Task.Run(ReadAsync, CancellationToken.None));
                _last = last;
            }

            reading = last.Reading;
        }

        return reading.WaitAsync(cancellationToken);
    }

    private async Task<T> ReadAsync()
    {
        using var timeoutSource = new CancellationTokenSource(timeout, time);
        return await read(timeoutSource.Token);
    }
}
