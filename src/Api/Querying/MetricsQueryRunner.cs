using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Options;
using Platform.ClickHouse;

namespace Api.Querying;

/// <summary>
/// Runs metrics queries with the per-query limits: read-only, <c>max_execution_time</c>, a result
/// row cap and a memory cap. An answer past a cap is the caller's question being too big: a 400
/// naming the limit, never a truncated answer.
/// </summary>
public sealed class MetricsQueryRunner(ClickHouseClient clickHouse, IOptions<ApiOptions> options)
{
    private const int TooManyRowsOrBytes = 396;
    private const int MemoryLimitExceeded = 241;

    public string Database => clickHouse.Database;

    public async Task<List<T>> QueryAsync<T>(string sql, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken)
    {
        try
        {
            return await clickHouse.QueryAsync(sql, typeInfo, Limits(), cancellationToken);
        }
        catch (ClickHouseServerException ex) when (ex.Code == TooManyRowsOrBytes)
        {
            throw new BadQueryException("query", "Answer too large", $"The answer has more than {options.Value.MaxResultRows} rows; narrow the range, use a wider interval or fewer breakdown values.");
        }
        catch (ClickHouseServerException ex) when (ex.Code == MemoryLimitExceeded)
        {
            throw new BadQueryException("query", "Question too large", "Answering this would take more memory than one query may use; narrow the range or the breakdown.");
        }
    }

    private ClickHouseQueryOptions Limits() => new()
    {
        QueryId = $"api-{Guid.NewGuid():N}",
        MaxExecutionTime = options.Value.MaxExecutionTime,
        MaxResultRows = options.Value.MaxResultRows,
        Readonly = true,
        Settings = new Dictionary<string, string>
        {
            ["max_memory_usage"] = options.Value.MaxQueryMemory.ToString(System.Globalization.CultureInfo.InvariantCulture),
        },
    };
}
