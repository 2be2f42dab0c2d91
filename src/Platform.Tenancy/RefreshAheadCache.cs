using System.Collections.Concurrent;

namespace Platform.Tenancy;

/// <summary>
/// Values kept for a lifetime, refreshed ahead of it: in the second half of an entry's life a lookup
/// answers from the cache and reloads the entry in the background, so a key in steady use never waits
/// for the store, while no answer is ever older than the lifetime (a change made elsewhere, such as a
/// revocation by another replica, still takes effect within it). At most <c>capacity</c> entries are
/// kept (lookups of made-up keys must not grow it without bound); past that, lookups go to the store.
/// </summary>
internal sealed class RefreshAheadCache<T>(TimeProvider time, TimeSpan lifetime, int capacity = 100_000)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new();
    private long _generation;

    public async ValueTask<T> GetAsync(string key, Func<CancellationToken, Task<T>> load, CancellationToken cancellationToken)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            var age = time.GetUtcNow() - entry.LoadedAt;
            if (age < lifetime)
            {
                if (age >= lifetime / 2 && Interlocked.Exchange(ref entry.Refreshing, 1) == 0)
                {
                    _ = RefreshAsync(key, load);
                }

                return entry.Value;
            }
        }

        return await LoadAsync(key, load, cancellationToken);
    }

    /// <summary>Forgets every entry; loads under way when this is called are not stored.</summary>
    public void Clear()
    {
        Interlocked.Increment(ref _generation);
        _entries.Clear();
    }

    /// <summary>Forgets one entry; loads under way when this is called are not stored.</summary>
    public void Remove(string key)
    {
        Interlocked.Increment(ref _generation);
        _entries.TryRemove(key, out _);
    }

    private async Task<T> LoadAsync(string key, Func<CancellationToken, Task<T>> load, CancellationToken cancellationToken)
    {
        // The age counts from before the read, and a read that raced a Clear could hold what was cleared.
        var generation = Interlocked.Read(ref _generation);
        var loadedAt = time.GetUtcNow();
        var value = await load(cancellationToken);
        if (Interlocked.Read(ref _generation) == generation && HasRoomFor(key))
        {
            _entries[key] = new Entry(value, loadedAt);
        }

        return value;
    }

    private bool HasRoomFor(string key)
    {
        if (_entries.Count < capacity || _entries.ContainsKey(key))
        {
            return true;
        }

        var now = time.GetUtcNow();
        foreach (var (stale, _) in _entries.Where(e => now - e.Value.LoadedAt >= lifetime))
        {
            _entries.TryRemove(stale, out _);
        }

        return _entries.Count < capacity;
    }

    private async Task RefreshAsync(string key, Func<CancellationToken, Task<T>> load)
    {
        try
        {
            await LoadAsync(key, load, CancellationToken.None);
        }
        catch (Exception)
        {
            // The entry answers until its lifetime ends; the lookup after that loads in line and meets the error.
        }
    }

    private sealed class Entry(T value, DateTimeOffset loadedAt)
    {
        public T Value { get; } = value;

        public DateTimeOffset LoadedAt { get; } = loadedAt;

        public int Refreshing;
    }
}
