using System.Diagnostics.Metrics;
using Ingestor.Cdc;
using Ingestor.Cdc.Apply;
using Microsoft.Extensions.Time.Testing;

namespace Platform.FunctionalTests.Cdc;

/// <summary>The lag figures of the status, as docs/cdc-apply.md defines them, on a clock the test sets.</summary>
public sealed class ApplyLagTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);
    private static readonly CdcTable Users = new("public", "users");
    private static readonly CdcTable Accounts = new("public", "accounts");

    [Fact]
    public void ReplicationLagIsWalMinusAppliedWhileChangesWaitAndTheCaptureLagWhenNoneDo()
    {
        var (state, metrics, _) = Create();
        state.Table(Users).AppliedLsn = 1_000;
        state.Table(Accounts).AppliedLsn = 1_500;
        Assert.Null(metrics.ReplicationLagBytes()); // no slot sample yet

        state.Slot = new SlotSample(Now, WalLsn: 5_000, ConfirmedFlushLsn: 4_000, RestartLsn: 900, Active: true);
        metrics.ReportPending(new Dictionary<CdcTable, long> { [Users] = 3, [Accounts] = 0 });
        Assert.Equal(3_500, metrics.ReplicationLagBytes()); // WAL 5000 - highest applied 1500

        metrics.ReportPending(new Dictionary<CdcTable, long> { [Users] = 0, [Accounts] = 0 });
        Assert.Equal(1_000, metrics.ReplicationLagBytes()); // nothing waits: everything confirmed (4000) is applied
    }

    [Fact]
    public void ApplyLagCountsFromTheLastAppliedCommitOnlyWhileChangesWait()
    {
        var (state, metrics, clock) = Create();
        var users = state.Table(Users);
        users.LastAppliedCommitTime = Now.AddSeconds(-30);
        Assert.Equal(0, metrics.ApplyLagSeconds(users)); // never sampled: nothing known to wait

        metrics.ReportPending(new Dictionary<CdcTable, long> { [Users] = 2, [Accounts] = 0 });
        Assert.Equal(30, metrics.ApplyLagSeconds(users));
        clock.SetUtcNow(Now.AddSeconds(10));
        Assert.Equal(40, metrics.ApplyLagSeconds(users));
        Assert.Equal(40, metrics.ApplyLagSeconds()); // the largest table's

        // Nothing applied since start: counted from when the wait was first seen.
        var accounts = state.Table(Accounts);
        metrics.ReportPending(new Dictionary<CdcTable, long> { [Users] = 0, [Accounts] = 5 });
        clock.SetUtcNow(Now.AddSeconds(25));
        Assert.Equal(15, metrics.ApplyLagSeconds(accounts));
        Assert.Equal(0, metrics.ApplyLagSeconds(users)); // a quiet table reads 0
    }

    private static (CdcState State, CdcApplyMetrics Metrics, FakeTimeProvider Clock) Create()
    {
        var state = new CdcState();
        var clock = new FakeTimeProvider(Now);
        return (state, new CdcApplyMetrics(new MeterFactory(), state, clock), clock);
    }

    private sealed class MeterFactory : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}
