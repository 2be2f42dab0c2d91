namespace Api.Querying;

/// <summary>Where a query may read: rollups where they answer (auto), events only, or raw_events only (comparisons, the benchmark).</summary>
public enum QuerySource
{
    Auto,
    Events,
    Raw,
}

public static class QuerySources
{
    public static QuerySource Parse(string? text) => text switch
    {
        null or "" or "auto" => QuerySource.Auto,
        "events" => QuerySource.Events,
        "raw" => QuerySource.Raw,
        _ => throw new BadQueryException("source", "Unknown source", "'source' must be auto (rollups where they answer), events, or raw."),
    };
}
