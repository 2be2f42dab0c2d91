using System.Text;
using System.Text.RegularExpressions;
using Platform.ClickHouse;

namespace Transformer.Models;

/// <summary>
/// A model's SQL with its <c>{{ ... }}</c> placeholders parsed once at load: references to models
/// and sources, the model's own table and the build window. Rendering only substitutes names that
/// were checked at load and literals formatted by <see cref="ClickHouseSql"/>.
/// </summary>
public sealed partial class SqlTemplate
{
    private readonly string _text;

    private SqlTemplate(string text, IReadOnlyList<string> refs, IReadOnlyList<(string Source, string Table)> sources)
    {
        _text = text;
        Refs = refs;
        Sources = sources;
    }

    public IReadOnlyList<string> Refs { get; }

    public IReadOnlyList<(string Source, string Table)> Sources { get; }

    public string Text => _text;

    /// <summary>Parses the placeholders; an unknown one is a <see cref="FormatException"/> naming it.</summary>
    public static SqlTemplate Parse(string text)
    {
        var refs = new List<string>();
        var sources = new List<(string, string)>();
        foreach (Match match in Placeholder().Matches(text))
        {
            switch (Classify(match.Groups[1].Value))
            {
                case (Kind.Ref, var name, _):
                    if (!refs.Contains(name))
                    {
                        refs.Add(name);
                    }

                    break;
                case (Kind.Source, var source, var table):
                    sources.Add((source, table));
                    break;
                case (Kind.Unknown, _, _):
                    throw new FormatException($"Unknown placeholder '{match.Value}'. Known: ref('model'), source('name', 'table'), this, window_start, window_end, window_start_date, window_end_date.");
            }
        }

        return new SqlTemplate(text, refs, sources);
    }

    /// <summary>The SQL with every placeholder replaced.</summary>
    public string Render(RenderContext context) =>
        Placeholder().Replace(_text, match => Classify(match.Groups[1].Value) switch
        {
            (Kind.Ref, var name, _) => context.TableOf(name),
            (Kind.Source, _, var table) => context.TableOf(table),
            (Kind.This, _, _) => context.This,
            (Kind.WindowStart, _, _) => ClickHouseSql.Literal(context.Window.Start),
            (Kind.WindowEnd, _, _) => ClickHouseSql.Literal(context.Window.End),
            (Kind.WindowStartDate, _, _) => ClickHouseSql.Literal(DateOnly.FromDateTime(context.Window.Start.UtcDateTime)),
            (Kind.WindowEndDate, _, _) => ClickHouseSql.Literal(DateOnly.FromDateTime(context.Window.End.UtcDateTime)),
            _ => throw new InvalidOperationException("Placeholders are checked at load."),
        });

    private enum Kind
    {
        Unknown,
        Ref,
        Source,
        This,
        WindowStart,
        WindowEnd,
        WindowStartDate,
        WindowEndDate,
    }

    private static (Kind Kind, string A, string B) Classify(string inner)
    {
        if (RefCall().Match(inner) is { Success: true } r)
        {
            return (Kind.Ref, r.Groups[1].Value, "");
        }

        if (SourceCall().Match(inner) is { Success: true } s)
        {
            return (Kind.Source, s.Groups[1].Value, s.Groups[2].Value);
        }

        return inner switch
        {
            "this" => (Kind.This, "", ""),
            "window_start" => (Kind.WindowStart, "", ""),
            "window_end" => (Kind.WindowEnd, "", ""),
            "window_start_date" => (Kind.WindowStartDate, "", ""),
            "window_end_date" => (Kind.WindowEndDate, "", ""),
            _ => (Kind.Unknown, "", ""),
        };
    }

    [GeneratedRegex(@"\{\{\s*(.*?)\s*\}\}", RegexOptions.Singleline)]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^ref\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*\)$")]
    private static partial Regex RefCall();

    [GeneratedRegex(@"^source\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*,\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*\)$")]
    private static partial Regex SourceCall();
}

/// <summary>What placeholders become for one build.</summary>
/// <param name="Database">The analytics database, where models and sources live.</param>
/// <param name="ThisTable">The table name <c>{{ this }}</c> stands for (the live table of the model being built).</param>
public sealed record RenderContext(string Database, string ThisTable, BuildWindow Window)
{
    public string This => TableOf(ThisTable);

    public string TableOf(string table) => ClickHouseSql.Table(Database, table);
}

/// <summary>The time range a build covers: <see cref="Start"/> inclusive, <see cref="End"/> exclusive, whole UTC days.</summary>
public sealed record BuildWindow(DateTimeOffset Start, DateTimeOffset End)
{
    /// <summary>All the time a ClickHouse DateTime can hold.</summary>
    public static readonly BuildWindow AllTime = new(DateTimeOffset.UnixEpoch, new DateTimeOffset(2105, 12, 31, 0, 0, 0, TimeSpan.Zero));

    public bool IsAllTime => this == AllTime;

    public static BuildWindow Days(DateOnly first, DateOnly lastInclusive) =>
        new(new DateTimeOffset(first.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero),
            new DateTimeOffset(lastInclusive.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));

    /// <summary>The incremental window at <paramref name="now"/>: <paramref name="lookbackDays"/> before today to the end of tomorrow.</summary>
    public static BuildWindow Lookback(DateTimeOffset now, int lookbackDays)
    {
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        return Days(today.AddDays(-lookbackDays), today.AddDays(1));
    }

    public IEnumerable<DateOnly> EachDay()
    {
        for (var day = DateOnly.FromDateTime(Start.UtcDateTime); day < DateOnly.FromDateTime(End.UtcDateTime); day = day.AddDays(1))
        {
            yield return day;
        }
    }

    public override string ToString() => IsAllTime ? "all time" : $"{Start:yyyy-MM-dd}..{End.AddDays(-1):yyyy-MM-dd}";
}
