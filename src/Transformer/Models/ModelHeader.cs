using System.Globalization;
using Platform.ClickHouse;
using Transformer.DataTests;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Transformer.Models;

/// <summary>
/// Reads a model file: the YAML block comment that opens it, then the SQL. Strict on purpose: an
/// unknown key or a value of the wrong kind is an error naming the file, not a silent default.
/// </summary>
internal static class ModelHeader
{
    private static readonly HashSet<string> Keys =
    [
        "materialized", "partition_by", "order_by", "engine", "index_granularity", "time_column", "lookback_days", "reach_days_before", "reach_days_after", "group",
        "retention_days", "owner", "description", "block_dependents_on_test_failure", "tests",
    ];

    public static Model ReadModel(string path, string root)
    {
        var name = Path.GetFileNameWithoutExtension(path);
        if (!ClickHouseSql.IsIdentifier(name) || name.Contains("__", StringComparison.Ordinal))
        {
            throw new ModelLoadException($"{path}: a model's file name is its table name: letters, digits and single underscores.");
        }

        var text = File.ReadAllText(path);
        var trimmed = text.TrimStart();
        var config = new ModelConfig();
        var sql = trimmed;
        if (trimmed.StartsWith("/*", StringComparison.Ordinal))
        {
            var end = trimmed.IndexOf("*/", StringComparison.Ordinal);
            if (end < 0)
            {
                throw new ModelLoadException($"{path}: the header comment is not closed.");
            }

            config = ReadConfig(path, trimmed[2..end]);
            sql = trimmed[(end + 2)..];
        }

        sql = sql.Trim().TrimEnd(';').Trim();
        if (sql.Length == 0)
        {
            throw new ModelLoadException($"{path}: the model has no SQL.");
        }

        SqlTemplate template;
        try
        {
            template = SqlTemplate.Parse(sql);
        }
        catch (FormatException ex)
        {
            throw new ModelLoadException($"{path}: {ex.Message}", ex);
        }

        var layer = Path.GetRelativePath(root, Path.GetDirectoryName(path)!).Replace('\\', '/');
        return new Model(name, path, config, template) { Layer = layer == "." ? "" : layer };
    }

    /// <summary>
    /// Reads <c>sources.yml</c>: source name to its tables, each with its settings. A table marked
    /// <c>optional: true</c> may not exist yet (it is created by another component when it first has
    /// data); the models reading it wait for it instead of failing.
    /// </summary>
    public static Dictionary<string, IReadOnlySet<string>> ReadSources(string path, out HashSet<string> optional)
    {
        var sources = new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal);
        optional = new HashSet<string>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return sources;
        }

        var root = ParseMapping(path, File.ReadAllText(path));
        foreach (var (key, value) in root.Children)
        {
            var source = Scalar(path, key);
            var tables = value is YamlMappingNode m ? m : throw new ModelLoadException($"{path}: source '{source}' must map table names to their settings.");
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (tableNode, settingsNode) in tables.Children)
            {
                var table = Scalar(path, tableNode);
                names.Add(table);
                if (settingsNode is not YamlMappingNode settings)
                {
                    throw new ModelLoadException($"{path}: the settings of source table '{source}.{table}' must be a mapping ({{}} for none).");
                }

                foreach (var (settingKey, _) in settings.Children)
                {
                    if (Scalar(path, settingKey) is not ("optional" or "description") and var unknown)
                    {
                        throw new ModelLoadException($"{path}: unknown setting '{unknown}' of source table '{source}.{table}'. Known: optional, description.");
                    }
                }

                if (Optional(path, settings, "optional") is { } flag)
                {
                    if (!bool.TryParse(flag, out var isOptional))
                    {
                        throw new ModelLoadException($"{path}: 'optional' of source table '{source}.{table}' must be true or false, not '{flag}'.");
                    }

                    if (isOptional)
                    {
                        optional.Add(SourceKey(source, table));
                    }
                }
            }

            sources[source] = names;
        }

        return sources;
    }

    public static string SourceKey(string source, string table) => source + "." + table;

    private static ModelConfig ReadConfig(string path, string yaml)
    {
        var root = ParseMapping(path, yaml);
        var values = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in root.Children)
        {
            var key = Scalar(path, keyNode);
            if (!Keys.Contains(key))
            {
                throw new ModelLoadException($"{path}: unknown setting '{key}'. Known: {string.Join(", ", Keys)}.");
            }

            values[key] = value;
        }

        string? Text(string key) => values.TryGetValue(key, out var node) ? Scalar(path, node, key) : null;
        int? Number(string key) => Text(key) is { } s
            ? int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new ModelLoadException($"{path}: '{key}' must be a whole number, not '{s}'.")
            : null;

        var materialized = Text("materialized") switch
        {
            null or "view" => Materialization.View,
            "table" => Materialization.Table,
            "incremental" => Materialization.Incremental,
            "append" => Materialization.Append,
            var other => throw new ModelLoadException($"{path}: materialized '{other}' is not one of view, table, incremental, append."),
        };

        var config = new ModelConfig
        {
            Materialized = materialized,
            PartitionBy = Text("partition_by"),
            OrderBy = Text("order_by"),
            Engine = Text("engine") ?? "MergeTree",
            IndexGranularity = Number("index_granularity"),
            TimeColumn = Text("time_column"),
            LookbackDays = Number("lookback_days"),
            ReachDaysBefore = Number("reach_days_before") ?? 0,
            ReachDaysAfter = Number("reach_days_after") ?? 0,
            Group = Text("group") ?? "light",
            RetentionDays = Number("retention_days"),
            Owner = Text("owner"),
            Description = Text("description"),
            BlockDependentsOnTestFailure = Text("block_dependents_on_test_failure") switch
            {
                null or "false" => false,
                "true" => true,
                var other => throw new ModelLoadException($"{path}: block_dependents_on_test_failure must be true or false, not '{other}'."),
            },
            Tests = values.TryGetValue("tests", out var tests) ? ReadTests(path, tests) : [],
        };
        Validate(path, config);
        return config;
    }

    private static void Validate(string path, ModelConfig config)
    {
        if (config.Materialized == Materialization.View && (config.PartitionBy ?? config.OrderBy ?? config.TimeColumn) is not null)
        {
            throw new ModelLoadException($"{path}: a view has no partition_by, order_by or time_column.");
        }

        if (config.IndexGranularity is { } granularity && (config.Materialized == Materialization.View || granularity is < 1 or > 65536))
        {
            throw new ModelLoadException($"{path}: index_granularity is for tables, a number of rows from 1 to 65536.");
        }

        if (config.Materialized == Materialization.Incremental)
        {
            if (config.TimeColumn is null || !ClickHouseSql.IsIdentifier(config.TimeColumn))
            {
                throw new ModelLoadException($"{path}: an incremental model needs time_column, the Date column its rows' days are read from.");
            }

            if (config.PartitionBy is { } partition && partition != config.TimeColumn)
            {
                throw new ModelLoadException($"{path}: an incremental model is partitioned by its time_column ('{config.TimeColumn}'), so each day is one partition to replace; partition_by '{partition}' differs.");
            }
        }

        if (config.Materialized == Materialization.Append && (config.TimeColumn is null || !ClickHouseSql.IsIdentifier(config.TimeColumn)))
        {
            throw new ModelLoadException($"{path}: an append model needs time_column, the column whose newest value marks what was appended.");
        }

        if (!ClickHouseSql.IsIdentifier(config.Group))
        {
            throw new ModelLoadException($"{path}: group '{config.Group}' must be a plain name.");
        }

        if ((config.ReachDaysBefore | config.ReachDaysAfter) != 0 && config.Materialized != Materialization.Incremental || config.ReachDaysBefore > 366 || config.ReachDaysAfter > 366)
        {
            throw new ModelLoadException($"{path}: reach_days_before and reach_days_after are for incremental models, at most 366.");
        }

        if (config.RetentionDays is < 1 || config.LookbackDays is > 366)
        {
            throw new ModelLoadException($"{path}: retention_days must be at least 1 and lookback_days at most 366.");
        }
    }

    private static List<DataTestDefinition> ReadTests(string path, YamlNode node)
    {
        if (node is not YamlSequenceNode sequence)
        {
            throw new ModelLoadException($"{path}: 'tests' must be a list.");
        }

        var tests = new List<DataTestDefinition>();
        foreach (var item in sequence)
        {
            if (item is not YamlMappingNode { Children.Count: 1 } one)
            {
                throw new ModelLoadException($"{path}: each test is one 'kind: settings' entry (line {item.Start.Line}).");
            }

            var (kindNode, settings) = one.Children.First();
            var kind = Scalar(path, kindNode);
            string Where() => $"{path}: test '{kind}' (line {item.Start.Line})";
            tests.Add(kind switch
            {
                "not_null" => new NotNullTest(Columns(path, settings, Where())),
                "unique" => settings is YamlMappingNode u
                    ? new UniqueTest(Columns(path, Required(u, "columns", Where()), Where()), Optional(path, u, "per") is { } per ? Column(per, Where()) : null)
                    : new UniqueTest(Columns(path, settings, Where()), null),
                "accepted_values" when settings is YamlMappingNode a => new AcceptedValuesTest(
                    Column(Scalar(path, Required(a, "column", Where())), Where()),
                    Required(a, "values", Where()) is YamlSequenceNode v ? v.Select(x => Scalar(path, x)).ToList() : throw new ModelLoadException($"{Where()}: 'values' must be a list.")),
                "relationships" when settings is YamlMappingNode r => new RelationshipsTest(
                    Column(Scalar(path, Required(r, "column", Where())), Where()),
                    Scalar(path, Required(r, "to", Where())).Replace("ref('", "", StringComparison.Ordinal).Replace("')", "", StringComparison.Ordinal),
                    Column(Scalar(path, Required(r, "field", Where())), Where()),
                    Optional(path, r, "tenant_column") is { } tc ? (tc.Length == 0 ? null : Column(tc, Where())) : "tenant_id"),
                "freshness" when settings is YamlMappingNode f => new FreshnessTest(
                    Column(Scalar(path, Required(f, "column", Where())), Where()),
                    int.TryParse(Scalar(path, Required(f, "max_age_minutes", Where())), NumberStyles.None, CultureInfo.InvariantCulture, out var minutes) && minutes > 0
                        ? minutes : throw new ModelLoadException($"{Where()}: max_age_minutes must be a positive whole number.")),
                "sql" when settings is YamlMappingNode s => new SqlTest(
                    Scalar(path, Required(s, "name", Where())),
                    ParseQuery(Scalar(path, Required(s, "query", Where())), Where())),
                "not_null" or "unique" or "accepted_values" or "relationships" or "freshness" or "sql" =>
                    throw new ModelLoadException($"{Where()}: its settings must be a mapping."),
                _ => throw new ModelLoadException($"{Where()}: unknown test kind. Known: not_null, unique, accepted_values, relationships, freshness, sql."),
            });
        }

        var duplicate = tests.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        return duplicate is null ? tests : throw new ModelLoadException($"{path}: the test '{duplicate.Key}' is declared twice.");
    }

    private static SqlTemplate ParseQuery(string query, string where)
    {
        try
        {
            return SqlTemplate.Parse(query);
        }
        catch (FormatException ex)
        {
            throw new ModelLoadException($"{where}: {ex.Message}", ex);
        }
    }

    private static List<string> Columns(string path, YamlNode node, string where) => node switch
    {
        YamlSequenceNode list when list.Children.Count > 0 => list.Select(c => Column(Scalar(path, c), where)).ToList(),
        YamlScalarNode one => [Column(Scalar(path, one), where)],
        _ => throw new ModelLoadException($"{where}: expected a column or a list of columns."),
    };

    private static string Column(string name, string where) =>
        ClickHouseSql.IsIdentifier(name) ? name : throw new ModelLoadException($"{where}: '{name}' is not a column name.");

    private static YamlNode Required(YamlMappingNode node, string key, string where) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : throw new ModelLoadException($"{where}: '{key}' is missing.");

    private static string? Optional(string path, YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? Scalar(path, value) : null;

    private static string Scalar(string path, YamlNode node, string? key = null) =>
        node is YamlScalarNode { Value: { } value } ? value
            : throw new ModelLoadException($"{path}: {(key is null ? "a value" : $"'{key}'")} must be a single value (line {node.Start.Line}).");

    private static YamlMappingNode ParseMapping(string path, string yaml)
    {
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            return stream.Documents.Count == 0 ? new YamlMappingNode()
                : stream.Documents[0].RootNode as YamlMappingNode ?? throw new ModelLoadException($"{path}: the header must be a YAML mapping of settings.");
        }
        catch (YamlException ex)
        {
            throw new ModelLoadException($"{path}: the header is not valid YAML: {ex.Message}", ex);
        }
    }
}
