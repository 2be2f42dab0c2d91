using Platform.Testing;

namespace Platform.FunctionalTests;

[Collection(PlatformCollection.Name)]
public class TenantIsolationTests(PlatformFixture platform)
{
    [Fact]
    public async Task AReadKeyNeverSeesAnotherTenantsEvents()
    {
        var alice = await platform.CreateTenantAsync();
        var bob = await platform.CreateTenantAsync();
        using (var collector = platform.CreateCollectorClient(alice.WriteKey))
        {
            using var response = await collector.PostAsync("/v1/events", Http.Json($"[{Http.Event("secret", "a1")}, {Http.Event("secret", "a2")}]"));
            response.EnsureSuccessStatusCode();
        }

        using var aliceApi = platform.CreateApiClient(alice.ReadKey);
        using var bobApi = platform.CreateApiClient(bob.ReadKey);
        await aliceApi.CountUntilAsync(2);

        Assert.Equal(0, (long)(await bobApi.CountAsync())["total"]!);
        Assert.Equal(0, (long)(await bobApi.CountAsync("?event=secret"))["total"]!);
    }

    [Fact]
    public async Task ATenantInThePayloadIsIgnored()
    {
        var alice = await platform.CreateTenantAsync();
        var mallory = await platform.CreateTenantAsync();
        using var collector = platform.CreateCollectorClient(mallory.WriteKey);

        using var response = await collector.PostAsync("/v1/events",
            Http.Json($$$"""{"event": "planted", "user_id": "m", "tenant_id": "{{{alice.Id}}}", "properties": {"tenant_id": "{{{alice.Id}}}"}}"""));
        response.EnsureSuccessStatusCode();

        using var malloryApi = platform.CreateApiClient(mallory.ReadKey);
        using var aliceApi = platform.CreateApiClient(alice.ReadKey);
        await malloryApi.CountUntilAsync(1);
        Assert.Equal(0, (long)(await aliceApi.CountAsync())["total"]!);
    }

    [Theory]
    [InlineData("?tenant_id={0}")]
    [InlineData("?tenant={0}&tenantId={0}")]
    [InlineData("?event=secret&tenant_id={0}")]
    public async Task ATenantInTheQueryStringIsIgnored(string queryTemplate)
    {
        var (victim, attacker) = await VictimWithASecretEventAndAnAttackerAsync();
        using var attackerApi = platform.CreateApiClient(attacker.ReadKey);

        var answer = await attackerApi.CountAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, queryTemplate, victim.Id));

        Assert.Equal(0, (long)answer["total"]!);
    }

    [Theory]
    [InlineData("x' OR '1'='1")]
    [InlineData("x') OR 1=1 --")]
    [InlineData("secret' UNION ALL SELECT event_name, count() FROM raw_events GROUP BY event_name --")]
    [InlineData("\\' OR 1=1 --")]
    public async Task AnInjectionAttemptInTheEventFilterIsJustANameThatMatchesNothing(string attempt)
    {
        var (victim, attacker) = await VictimWithASecretEventAndAnAttackerAsync();
        using var attackerApi = platform.CreateApiClient(attacker.ReadKey);

        var answer = await attackerApi.CountAsync("?event=" + Uri.EscapeDataString(attempt));

        Assert.Equal(0, (long)answer["total"]!);
        Assert.Empty(answer["events"]!.AsArray());
    }

    /// <summary>Two tenants: one whose 'secret' event is stored and counted, one that will try to see it.</summary>
    private async Task<(TestTenant Victim, TestTenant Attacker)> VictimWithASecretEventAndAnAttackerAsync()
    {
        var victim = await platform.CreateTenantAsync();
        var attacker = await platform.CreateTenantAsync();
        using (var collector = platform.CreateCollectorClient(victim.WriteKey))
        {
            using var posted = await collector.PostAsync("/v1/events", Http.Json(Http.Event("secret", "v")));
            posted.EnsureSuccessStatusCode();
        }

        using var victimApi = platform.CreateApiClient(victim.ReadKey);
        await victimApi.CountUntilAsync(1);
        return (victim, attacker);
    }
}
