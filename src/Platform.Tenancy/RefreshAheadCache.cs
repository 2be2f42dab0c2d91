using System.Collections.Concurrent;

namespace Platform.Tenancy;

/// <summary>
/// Values kept for a lifetime, refreshed ahead of it: in the second half of an entry's life a lookup
/// answers from the cache and reloads the entry in the background, so a key in steady use never waits
/// for the store, while no answer is ever older than the lifetime (a change made elsewhere, such as a
/// revocation by another replica, still takes effect within it). At most <c>capacity</c> entries are
/// kept (lookups of made-up keys must not grow it without bound); past that, lookups go to the store.
/// When the store cannot be reached (<paramref name="isOutage"/>), an entry keeps answering for up to
/// <paramref name="outageGrace"/> past its lifetime: nothing can be revoked in a store that is down, and
/// refusing every known key would turn a short database outage into lost intake.
/// </summary>
internal sealed class RefreshAheadCache<T>(
    TimeProvider time, TimeSpan lifetime, int capacity = 100_000, TimeSpan outageGrace = default, Func<Exception, bool>? isOutage = null)
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

            if (entry.StoreUnreachable && age < lifetime + outageGrace)
            {
                if (Interlocked.Exchange(ref entry.Refreshing, 1) == 0)
                {
                    _ = RefreshAsync(key, load);
                }

                return entry.Value;
            }
        }

        try
        {
            return await LoadAsync(key, load, cancellationToken);
        }
        catch (Exception ex) when (entry is not null && isOutage?.Invoke(ex) == true
            && time.GetUtcNow() - entry.LoadedAt < lifetime + outageGrace)
        {
            entry.StoreUnreachable = true;
            return entry.Value;
        }
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
        catch (Exception ex)
        {
            // The entry answers until its lifetime ends (or its outage grace, when the store is down);
            // a later lookup tries again.
            if (_entries.TryGetValue(key, out var entry))
            {
                entry.StoreUnreachable = isOutage?.Invoke(ex) == true;
                Volatile.Write(ref entry.Refreshing, 0);
            }
        }
    }

    private sealed class Entry(T value, DateTimeOffset loadedAt)
    {
        public T Value { get; } = value;

        public DateTimeOffset LoadedAt { get; } = loadedAt;

        public int Refreshing;

        /// <summary>The last load failed because the store could not be reached.</summary>
        public volatile bool StoreUnreachable;
    }
}
