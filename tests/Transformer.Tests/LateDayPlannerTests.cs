using Transformer.Models;
using Transformer.Repairs;

namespace Transformer.Tests;

/// <summary>Which days of the shipped incremental models a late row makes due, and in what order repairs may follow each other.</summary>
public class LateDayPlannerTests
{
    private static readonly ModelProject Project = ModelProject.Load(Path.Combine(AppContext.BaseDirectory, "models"));
    private static readonly DateOnly Today = new(2026, 12, 7);
    private static readonly DateOnly RegularFrom = Today.AddDays(-3);
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(10);
    private static readonly DateTimeOffset Now = new(Today.ToDateTime(new TimeOnly(18, 0)), TimeSpan.Zero);

    private static DateTimeOffset At(DateOnly day, int hour = 12) => new(day.ToDateTime(new TimeOnly(hour, 0)), TimeSpan.Zero);

    private static DayBuild Build(string model, DateTimeOffset started, DateOnly first, DateOnly lastInclusive) =>
        new(model, started, started.AddSeconds(5), first, lastInclusive.AddDays(1));

    /// <summary>
    /// Every model's regular builds yesterday and today, stg_events at noon and the models reading it a quarter of an
    /// hour later (the heavy group): last week's days left their windows long ago.
    /// </summary>
    private static List<DayBuild> RegularBuilds() =>
        Project.Models.Where(m => m.Config.Materialized == Materialization.Incremental)
            .SelectMany(m => new[] { Today.AddDays(-1), Today }.Select(day =>
                Build(m.Name, At(day).AddMinutes(m.Name == "stg_events" ? 0 : 15), day.AddDays(-3), day.AddDays(1))))
            .ToList();

    [Fact]
    public void RowsInsertedTodayForADayBuiltLastWeekMakeThatDayAndTheDaysTheyReachDue()
    {
        var late = Today.AddDays(-10);
        var planner = new LateDayPlanner(Project, [new RawDay(late, At(Today, 13))], RegularBuilds(), Margin, Now);

        Assert.Equal([late, late.AddDays(1)], planner.DueDays(Project["stg_events"], RegularFrom));
        // Downstream waits until stg_events is repaired: building it now would read the old days.
        Assert.Empty(planner.DueDays(Project["sessions"], RegularFrom));
        Assert.Empty(planner.DueDays(Project["active_users"], RegularFrom));
    }

    [Fact]
    public void AModelIsDueOnceWhatItReadsWasRepairedAndNoLongerOnceItIsRepairedItself()
    {
        var late = Today.AddDays(-10);
        var raw = new[] { new RawDay(late, At(Today, 13)) };
        var builds = RegularBuilds();
        builds.Add(Build("stg_events", At(Today, 14), late, late.AddDays(1)));
        var planner = new LateDayPlanner(Project, raw, builds, Margin, Now);

        Assert.Empty(planner.DueDays(Project["stg_events"], RegularFrom));
        // stg_events' days D and D + 1 changed; a session may start the day before, or move from the day after.
        Assert.Equal([late.AddDays(-1), late, late.AddDays(1), late.AddDays(2)], planner.DueDays(Project["sessions"], RegularFrom));
        Assert.Equal([late, late.AddDays(1)], planner.DueDays(Project["rollup_active_users_daily"], RegularFrom));
        // WAU/MAU: through the daily rollup, once that is repaired; then the 29 days after as well, up to the regular window.
        Assert.Empty(planner.DueDays(Project["active_users"], RegularFrom));
        builds.Add(Build("rollup_active_users_daily", At(Today, 15), late, late.AddDays(1)));
        var later = new LateDayPlanner(Project, raw, builds, Margin, Now);
        var active = later.DueDays(Project["active_users"], RegularFrom);
        Assert.Equal(late, active[0]);
        Assert.Equal(RegularFrom.AddDays(-1), active[^1]);
        Assert.Equal(RegularFrom.DayNumber - late.DayNumber, active.Count);

        builds.Add(Build("sessions", At(Today, 16), late.AddDays(-1), late.AddDays(2)));
        Assert.Empty(new LateDayPlanner(Project, raw, builds, Margin, Now).DueDays(Project["sessions"], RegularFrom));
    }

    [Fact]
    public void RowsInsertedWhileTheDayWasStillInTheRegularWindowMakeNothingDue()
    {
        // Inserted yesterday morning for days yesterday's builds still covered, with the days they reach.
        var raw = new[] { new RawDay(Today.AddDays(-3), At(Today.AddDays(-1), 9)), new RawDay(Today.AddDays(-1), At(Today.AddDays(-1), 10)) };
        var planner = new LateDayPlanner(Project, raw, RegularBuilds(), Margin, Now);

        foreach (var model in Project.Models.Where(m => m.Config.Materialized == Materialization.Incremental))
        {
            Assert.Empty(planner.DueDays(model, RegularFrom));
        }
    }

    [Fact]
    public void ARowStampedWithinTheClockMarginOfABuildsStartCountsAsMissedByIt()
    {
        var late = Today.AddDays(-9);
        var builds = RegularBuilds();
        builds.Add(Build("stg_events", At(Today, 14), late, late));
        var raw = new[] { new RawDay(late, At(Today, 14).AddSeconds(-5)) };

        Assert.Contains(late, new LateDayPlanner(Project, raw, builds, Margin, Now).DueDays(Project["stg_events"], RegularFrom));
    }

    [Fact]
    public void RowsInsertedWithinTheClockMarginOfNowWaitForALaterRun()
    {
        var late = Today.AddDays(-9);
        var raw = new[] { new RawDay(late, Now.AddSeconds(-5)) };

        Assert.Empty(new LateDayPlanner(Project, raw, RegularBuilds(), Margin, Now).DueDays(Project["stg_events"], RegularFrom));
        Assert.Contains(late, new LateDayPlanner(Project, raw, RegularBuilds(), Margin, Now.AddSeconds(6)).DueDays(Project["stg_events"], RegularFrom));
    }

    [Fact]
    public void RangesGroupConsecutiveDays()
    {
        var d = new DateOnly(2026, 11, 1);
        Assert.Equal([(d, d.AddDays(2)), (d.AddDays(5), d.AddDays(5))], LateDayRepair.Ranges([d.AddDays(5), d, d.AddDays(1), d.AddDays(2)]));
    }
}
