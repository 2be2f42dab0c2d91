using Microsoft.Extensions.Logging.Abstractions;
using Platform.ClickHouse;
using Transformer.Models;
using Transformer.Runs;

namespace Transformer.Tests;

/// <summary>The shipped models on ClickHouse: a run asked to repair rebuilds the late days, and only those, by itself.</summary>
[Collection(TransformerCollection.Name)]
public class LateDayRepairTests(TransformerClickHouse clickHouse)
{
    private static readonly string ModelsPath = Path.Combine(AppContext.BaseDirectory, "models");

    [Fact]
    public async Task ARunRepairsTheDaysLateRowsArrivedForAfterAFirstBuildOverAllTimeAndRecordsItAsRepairs()
    {
        var client = await clickHouse.NewDatabaseAsync("repair");
        var now = DateTimeOffset.UtcNow;
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        string At(DateOnly day, int hour, int minute = 0) => $"{day:yyyy-MM-dd} {hour:00}:{minute:00}:00";
        await RawEvents.InsertAsync(client, ("t1", "e1", "app_open", "u1", At(today.AddDays(-1), 9)));
        var runner = new ModelRunner(client, ModelProject.Load(ModelsPath), new TransformerOptions { ModelsPath = ModelsPath, ScheduleEnabled = false },
            new FixedTimeProvider(now), NullLogger<ModelRunner>.Instance);
        var first = await runner.RunAsync(new RunRequest { RepairLateDays = true }); // first builds: all time, nothing late yet
        Assert.All(first.Results, r => Assert.Empty(r.Repairs));

        // Ten days late, for a day no regular build reaches again; one of them twice.
        var late = today.AddDays(-10);
        await RawEvents.InsertAsync(client, ("t1", "late-1", "app_open", "u2", At(late, 9)), ("t1", "late-2", "screen_view", "u2", At(late, 9, 10)), ("t1", "late-1", "app_open", "u2", At(late, 9)));
        var plain = await new ModelRunner(client, ModelProject.Load(ModelsPath), new TransformerOptions { ModelsPath = ModelsPath, ScheduleEnabled = false },
            new FixedTimeProvider(now), NullLogger<ModelRunner>.Instance).RunAsync(new RunRequest());
        Assert.Equal("0", await client.QueryScalarAsync($"SELECT count() FROM stg_events WHERE event_date = '{late:yyyy-MM-dd}'"));
        Assert.All(plain.Results, r => Assert.Empty(r.Repairs));

        // Past the clock margin of the late rows' insert: a build starting now certainly holds them.
        var repaired = await new ModelRunner(client, ModelProject.Load(ModelsPath), new TransformerOptions { ModelsPath = ModelsPath, ScheduleEnabled = false },
            new FixedTimeProvider(DateTimeOffset.UtcNow.AddSeconds(11)), NullLogger<ModelRunner>.Instance).RunAsync(new RunRequest { RepairLateDays = true });

        Assert.True(repaired.Succeeded);
        var repairs = repaired.Results.Where(r => r.Repairs.Count > 0).ToDictionary(r => r.Model, r => r.Repairs);
        Assert.Equal((late, late.AddDays(1)), (repairs["stg_events"][0].First, repairs["stg_events"][0].Last));
        Assert.Equal((late.AddDays(-1), late.AddDays(2)), (repairs["sessions"][0].First, repairs["sessions"][0].Last));
        Assert.Equal(late, repairs["active_users"][0].First);
        Assert.Equal(today.AddDays(-4), repairs["active_users"][^1].Last); // the 29 days after, up to the regular window
        Assert.Equal("2", await client.QueryScalarAsync($"SELECT count() FROM stg_events WHERE event_date = '{late:yyyy-MM-dd}'"));
        Assert.Equal("1\t2", await client.QueryScalarAsync($"SELECT count(), sum(events) FROM sessions WHERE session_date = '{late:yyyy-MM-dd}'"));
        Assert.Equal("1", await client.QueryScalarAsync($"SELECT toString(dau) FROM active_users WHERE tenant_id = 't1' AND day = '{late:yyyy-MM-dd}'"));
        // Yesterday's MAU counts the late user too: the rollup's repaired day was in before active_users was built.
        Assert.Equal("2", await client.QueryScalarAsync($"SELECT toString(mau) FROM active_users WHERE tenant_id = 't1' AND day = '{today.AddDays(-1):yyyy-MM-dd}'"));
        var recorded = await client.QueryScalarAsync(
            $"SELECT count() FROM transform_runs WHERE trigger = {ClickHouseSql.Literal(ModelRunner.RepairTrigger)} AND status = 'succeeded' AND model = 'sessions'");
        Assert.Equal("1", recorded);
    }
}
