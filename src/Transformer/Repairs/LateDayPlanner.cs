using Transformer.Models;

namespace Transformer.Repairs;

/// <summary>An event day of raw_events and the newest insert of a row for it (any tenant).</summary>
public sealed record RawDay(DateOnly Day, DateTimeOffset LastInserted);

/// <summary>A succeeded build of an incremental model and the days [First, End) it rebuilt.</summary>
public sealed record DayBuild(string Model, DateTimeOffset StartedAt, DateTimeOffset FinishedAt, DateOnly First, DateOnly End)
{
    public bool Covers(DateOnly day) => day >= First && day < End;
}

/// <summary>
/// Which days of incremental models hold less than their inputs: a day is due when rows that change it arrived
/// after every build of it began. For a model reading raw_events that is a raw day's newest insert; for a model
/// reading another incremental model it is the end of the upstream build that took that input in, so a model is
/// repaired only after what it reads was. A change on input day D reaches the model's days D - reach_days_before
/// to D + reach_days_after. Rows inserted within the clock margin of now wait for a later run: no build started now
/// could be trusted to hold them. Pure: built from what <see cref="LateDayRepair"/> reads, and unit tested.
/// </summary>
public sealed class LateDayPlanner(ModelProject project, IReadOnlyList<RawDay> rawDays, IReadOnlyList<DayBuild> builds, TimeSpan clockMargin, DateTimeOffset now)
{
    public const string RawSource = "raw_events";

    private readonly Dictionary<(string Model, DateOnly Day), Need> _needs = [];
    private readonly Dictionary<string, IReadOnlySet<DateOnly>> _touched = new(StringComparer.Ordinal);

    /// <summary>
    /// The model's days before <paramref name="before"/> (where its regular window starts) that are due, oldest first.
    /// A day whose upstream is not repaired yet is left for a later run.
    /// </summary>
    public IReadOnlyList<DateOnly> DueDays(Model model, DateOnly before) =>
        Touched(model).Where(day => day < before && NeedOf(model, day) is { Blocked: false, Since: { } since } && !BuiltSince(model.Name, day, since))
            .Order().ToList();

    /// <summary>Incremental models this one reads, through views and tables (their rows are only as new as those models').</summary>
    internal IReadOnlyList<Model> IncrementalInputs(Model model)
    {
        var inputs = new List<Model>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var next = new Queue<string>(model.DependsOn);
        while (next.TryDequeue(out var name))
        {
            if (!seen.Add(name))
            {
                continue;
            }

            var input = project[name];
            if (input.Config.Materialized == Materialization.Incremental)
            {
                inputs.Add(input);
            }
            else
            {
                foreach (var upstream in input.DependsOn)
                {
                    next.Enqueue(upstream);
                }
            }
        }

        return inputs;
    }

    private bool ReadsRaw(Model model) => model.Sql.Sources.Any(s => s.Table == RawSource);

    /// <summary>The model's days that some late input can change.</summary>
    private IReadOnlySet<DateOnly> Touched(Model model)
    {
        if (_touched.TryGetValue(model.Name, out var known))
        {
            return known;
        }

        var inputDays = new HashSet<DateOnly>();
        if (ReadsRaw(model))
        {
            inputDays.UnionWith(rawDays.Select(r => r.Day));
        }

        foreach (var input in IncrementalInputs(model))
        {
            inputDays.UnionWith(Touched(input));
        }

        var days = new HashSet<DateOnly>();
        foreach (var day in inputDays)
        {
            for (var d = day.AddDays(-model.Config.ReachDaysBefore); d <= day.AddDays(model.Config.ReachDaysAfter); d = d.AddDays(1))
            {
                days.Add(d);
            }
        }

        _touched[model.Name] = days;
        return days;
    }

    /// <summary>
    /// Since when a build of the model's day must have begun to hold all its inputs (null when nothing touches it);
    /// Blocked when an input day it reads is not rebuilt yet, so building it now would not help.
    /// </summary>
    private Need NeedOf(Model model, DateOnly day)
    {
        if (_needs.TryGetValue((model.Name, day), out var known))
        {
            return known;
        }

        // Input day D reaches this model's days D - before .. D + after, so this day reads input days day - after .. day + before.
        var first = day.AddDays(-model.Config.ReachDaysAfter);
        var last = day.AddDays(model.Config.ReachDaysBefore);
        DateTimeOffset? since = null;
        if (ReadsRaw(model))
        {
            foreach (var raw in rawDays.Where(r => r.Day >= first && r.Day <= last))
            {
                since = Later(since, raw.LastInserted + clockMargin);
            }
        }

        var need = new Need(since, Blocked: since > now);
        foreach (var input in IncrementalInputs(model))
        {
            for (var d = first; d <= last && !need.Blocked; d = d.AddDays(1))
            {
                var inputNeed = NeedOf(input, d);
                if (inputNeed.Blocked)
                {
                    need = need with { Blocked = true };
                    continue;
                }

                if (inputNeed.Since is not { } inputSince)
                {
                    continue;
                }

                // The input's day counts once a build of it that began after its own need has finished.
                var taken = builds.Where(b => b.Model == input.Name && b.Covers(d) && b.StartedAt >= inputSince).MinBy(b => b.StartedAt);
                need = taken is null ? need with { Blocked = true } : need with { Since = Later(need.Since, taken.FinishedAt) };
            }
        }

        _needs[(model.Name, day)] = need;
        return need;
    }

    private bool BuiltSince(string model, DateOnly day, DateTimeOffset since) =>
        builds.Any(b => b.Model == model && b.Covers(day) && b.StartedAt >= since);

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset b) => a is { } x && x >= b ? x : b;

    private sealed record Need(DateTimeOffset? Since, bool Blocked);
}
