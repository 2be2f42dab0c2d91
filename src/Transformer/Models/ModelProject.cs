using System.Text.RegularExpressions;
using Platform.ClickHouse;

namespace Transformer.Models;

/// <summary>
/// The loaded models and their dependency graph, in build order. Everything a run could trip over
/// later (a missing reference, a cycle, a bad header) is found here, at load, with the file named.
/// </summary>
public sealed partial class ModelProject
{
    private readonly Dictionary<string, Model> _byName;
    private readonly Dictionary<string, List<string>> _downstream;

    private readonly IReadOnlySet<string> _optionalSources;

    private ModelProject(IReadOnlyList<Model> ordered, IReadOnlyDictionary<string, IReadOnlySet<string>> sources, IReadOnlySet<string> optionalSources)
    {
        Models = ordered;
        Sources = sources;
        _optionalSources = optionalSources;
        _byName = ordered.ToDictionary(m => m.Name, StringComparer.Ordinal);
        _downstream = ordered.ToDictionary(m => m.Name, _ => new List<string>(), StringComparer.Ordinal);
        foreach (var model in ordered)
        {
            foreach (var upstream in model.DependsOn)
            {
                _downstream[upstream].Add(model.Name);
            }
        }
    }

    /// <summary>Every model, each after the models it reads.</summary>
    public IReadOnlyList<Model> Models { get; }

    /// <summary>Declared sources: name to its tables.</summary>
    public IReadOnlyDictionary<string, IReadOnlySet<string>> Sources { get; }

    /// <summary>The optional source tables (<c>optional: true</c> in sources.yml) a model reads: they may not exist yet.</summary>
    public IReadOnlyList<string> OptionalSourcesOf(Model model) => model.Sql.Sources
        .Where(s => _optionalSources.Contains(ModelHeader.SourceKey(s.Source, s.Table)))
        .Select(s => s.Table)
        .Distinct(StringComparer.Ordinal)
        .ToList();

    public Model this[string name] => _byName.TryGetValue(name, out var model) ? model : throw new KeyNotFoundException($"No model named '{name}'.");

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>All models <paramref name="model"/> reads, directly or not.</summary>
    public IReadOnlySet<string> Ancestors(string model) => Walk(model, m => _byName[m].DependsOn);

    /// <summary>All models that read <paramref name="model"/>, directly or not.</summary>
    public IReadOnlySet<string> Descendants(string model) => Walk(model, m => _downstream[m]);

    /// <summary>
    /// The models a selector names, in build order. Terms are separated by spaces or commas:
    /// <c>name</c>, <c>name+</c> (and everything downstream), <c>+name</c> (and everything upstream),
    /// <c>group:heavy</c>, <c>layer:marts</c>; null, empty or <c>*</c> is every model.
    /// </summary>
    public IReadOnlyList<Model> Select(string? selector)
    {
        if (string.IsNullOrWhiteSpace(selector) || selector.Trim() == "*")
        {
            return Models;
        }

        var chosen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var term in selector.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries))
        {
            if (term.StartsWith("group:", StringComparison.Ordinal) || term.StartsWith("layer:", StringComparison.Ordinal))
            {
                var value = term[(term.IndexOf(':', StringComparison.Ordinal) + 1)..];
                var matches = Models.Where(m => term.StartsWith('g') ? m.Config.Group == value : m.Layer == value).ToList();
                if (matches.Count == 0)
                {
                    throw new SelectionException($"'{term}' selects no model.");
                }

                chosen.UnionWith(matches.Select(m => m.Name));
                continue;
            }

            var upstream = term.StartsWith('+');
            var downstream = term.EndsWith('+');
            var name = term.Trim('+');
            if (!_byName.ContainsKey(name))
            {
                throw new SelectionException($"No model named '{name}'. Models: {string.Join(", ", Models.Select(m => m.Name))}.");
            }

            chosen.Add(name);
            if (upstream)
            {
                chosen.UnionWith(Ancestors(name));
            }

            if (downstream)
            {
                chosen.UnionWith(Descendants(name));
            }
        }

        return Models.Where(m => chosen.Contains(m.Name)).ToList();
    }

    /// <summary>Loads every <c>*.sql</c> under <paramref name="directory"/> and <c>sources.yml</c> beside them.</summary>
    public static ModelProject Load(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new ModelLoadException($"The models folder '{directory}' does not exist.");
        }

        var sources = ModelHeader.ReadSources(Path.Combine(directory, "sources.yml"), out var optionalSources);
        var models = new Dictionary<string, Model>(StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFiles(directory, "*.sql", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var model = ModelHeader.ReadModel(path, directory);
            if (models.TryGetValue(model.Name, out var existing))
            {
                throw new ModelLoadException($"Two models are named '{model.Name}': {existing.Path} and {path}.");
            }

            models.Add(model.Name, model);
        }

        foreach (var model in models.Values)
        {
            foreach (var name in model.DependsOn.Concat(model.Config.Tests.SelectMany(t => t.Refs)))
            {
                if (!models.ContainsKey(name))
                {
                    throw new ModelLoadException($"{model.Path}: ref('{name}') names no model.");
                }
            }

            foreach (var (source, table) in model.Sql.Sources)
            {
                if (!sources.TryGetValue(source, out var tables) || !tables.Contains(table))
                {
                    throw new ModelLoadException($"{model.Path}: source('{source}', '{table}') is not declared in sources.yml.");
                }
            }
        }

        return new ModelProject(TopologicalOrder(models), sources, optionalSources);
    }

    private static List<Model> TopologicalOrder(Dictionary<string, Model> models)
    {
        var ordered = new List<Model>();
        var state = new Dictionary<string, bool>(StringComparer.Ordinal); // false: on the current path, true: done
        var path = new Stack<string>();

        void Visit(string name)
        {
            if (state.TryGetValue(name, out var done))
            {
                if (!done)
                {
                    var cycle = path.Reverse().SkipWhile(n => n != name).Append(name);
                    throw new ModelLoadException($"The models form a cycle: {string.Join(" -> ", cycle)}.");
                }

                return;
            }

            state[name] = false;
            path.Push(name);
            foreach (var upstream in models[name].DependsOn)
            {
                Visit(upstream);
            }

            path.Pop();
            state[name] = true;
            ordered.Add(models[name]);
        }

        foreach (var name in models.Keys.Order(StringComparer.Ordinal))
        {
            Visit(name);
        }

        return ordered;
    }

    private static HashSet<string> Walk(string start, Func<string, IEnumerable<string>> next)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<string>(next(start));
        while (queue.TryDequeue(out var name))
        {
            if (seen.Add(name))
            {
                foreach (var n in next(name))
                {
                    queue.Enqueue(n);
                }
            }
        }

        return seen;
    }
}

public sealed class ModelLoadException(string message, Exception? inner = null) : Exception(message, inner);

public sealed class SelectionException(string message) : Exception(message);
