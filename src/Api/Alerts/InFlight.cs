using System.Collections.Concurrent;

namespace Api.Alerts;

/// <summary>
/// Work the evaluator and the sender start and do not wait for: at most <paramref name="limit"/> at once and one per key
/// (a rule, a delivery), so one slow piece holds one slot while the loop goes on starting others.
/// </summary>
internal sealed class InFlight(int limit)
{
    private readonly ConcurrentDictionary<long, Task> _running = new();

    public int Free => limit - _running.Count;

    public bool Has(long key) => _running.ContainsKey(key);

    /// <summary>Starts the work unless the key is running or no slot is free; the slot frees itself when the work ends.</summary>
    public bool TryStart(long key, Func<Task> work)
    {
        if (Free <= 0 || _running.ContainsKey(key))
        {
            return false;
        }

        // Registered before it may run, so a quick finish cannot remove it before it is added.
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _running[key] = Task.Run(async () =>
        {
            await registered.Task;
            try
            {
                await work();
            }
            finally
            {
                _running.TryRemove(key, out _);
            }
        });
        registered.SetResult();
        return true;
    }

    public Task WhenAllAsync() => Task.WhenAll(_running.Values);
}
