using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Platform.Tenancy;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>
/// Key lookups against the platform's PostgreSQL, on a clock the test moves: a key in steady use is
/// refreshed ahead of its cache time, and a revocation made by another replica still takes effect within it.
/// </summary>
[Collection(PlatformCollection.Name)]
public class KeyCacheTests(PlatformFixture platform)
{
    [Fact]
    public async Task AKeyInUseIsReloadedInTheBackgroundAndARevocationElsewhereTakesEffectWithinTheCacheTime()
    {
        await using var dataSource = NpgsqlDataSource.Create(platform.App["platform"].ConnectionString!);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var replica = new TenantDirectory(dataSource, clock);
        var elsewhere = new TenantDirectory(dataSource, TimeProvider.System);
        var tenant = await platform.CreateTenantAsync();

        Assert.Equal(tenant.Id, await replica.ResolveAsync(tenant.ReadKey, ApiKeyKind.Read));
        Assert.True(await elsewhere.RevokeKeyAsync(tenant.ReadKey));

        // Early in its life the entry answers without looking; the revocation is not seen yet.
        clock.Advance(TenantDirectory.CacheFor / 4);
        Assert.Equal(tenant.Id, await replica.ResolveAsync(tenant.ReadKey, ApiKeyKind.Read));

        // Late in its life it still answers at once, and starts a reload that sees the revocation
        // before the entry would have expired: the clock stays where it is.
        clock.Advance(TenantDirectory.CacheFor / 2);
        Assert.Equal(tenant.Id, await replica.ResolveAsync(tenant.ReadKey, ApiKeyKind.Read));
        await Eventually.MatchesAsync(() => replica.ResolveAsync(tenant.ReadKey, ApiKeyKind.Read), resolved => resolved is null, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task AnEntryPastTheCacheTimeIsNeverServed()
    {
        await using var dataSource = NpgsqlDataSource.Create(platform.App["platform"].ConnectionString!);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var replica = new TenantDirectory(dataSource, clock);
        var elsewhere = new TenantDirectory(dataSource, TimeProvider.System);
        var tenant = await platform.CreateTenantAsync();

        Assert.Equal(tenant.Id, await replica.ResolveAsync(tenant.WriteKey, ApiKeyKind.Write));
        Assert.True(await elsewhere.RevokeKeyAsync(tenant.WriteKey));
        clock.Advance(TenantDirectory.CacheFor);
        Assert.Null(await replica.ResolveAsync(tenant.WriteKey, ApiKeyKind.Write));
    }

    [Fact]
    public async Task ARevocationThroughTheSameDirectoryTakesEffectAtOnce()
    {
        await using var dataSource = NpgsqlDataSource.Create(platform.App["platform"].ConnectionString!);
        var directory = new TenantDirectory(dataSource, new FakeTimeProvider(DateTimeOffset.UtcNow));
        var tenant = await platform.CreateTenantAsync();

        Assert.Equal(tenant.Id, await directory.ResolveAsync(tenant.ReadKey, ApiKeyKind.Read));
        Assert.True(await directory.RevokeKeyAsync(tenant.ReadKey));
        Assert.Null(await directory.ResolveAsync(tenant.ReadKey, ApiKeyKind.Read));
    }

    [Fact]
    public async Task LookupsOfMadeUpKeysDoNotGrowTheCachePastItsCapacity()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var cache = new RefreshAheadCache<string>(clock, TimeSpan.FromSeconds(30), capacity: 2);
        var loads = 0;
        Task<string> Load(string key) { loads++; return Task.FromResult(key); }

        foreach (var key in new[] { "a", "b", "c", "c", "a" })
        {
            Assert.Equal(key, await cache.GetAsync(key, _ => Load(key), CancellationToken.None));
        }

        // "a" and "b" were kept; "c" found the cache full and was loaded each time.
        Assert.Equal(4, loads);

        // Once the kept entries have expired, they make room for new ones.
        clock.Advance(TimeSpan.FromSeconds(30));
        await cache.GetAsync("c", _ => Load("c"), CancellationToken.None);
        await cache.GetAsync("c", _ => Load("c"), CancellationToken.None);
        Assert.Equal(5, loads);
    }
}
