using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Platform.ClickHouse;

/// <summary>
/// A small ClickHouse client over the HTTP interface: every statement is a POST (a GET is read-only
/// on the server), errors become <see cref="ClickHouseServerException"/>, inserts stream JSONEachRow or
/// send RowBinary.
/// One instance per data source; it is thread-safe and shares one <see cref="HttpClient"/>.
/// </summary>
public sealed class ClickHouseClient
{
    public static readonly ActivitySource ActivitySource = new("Platform.ClickHouse");

    private readonly HttpClient _http;
    private readonly AuthenticationHeaderValue _auth;

    public ClickHouseClient(HttpClient http, ClickHouseConnectionSettings settings)
    {
        _http = http;
        Settings = settings;
        _auth = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{settings.Username}:{settings.Password}")));
    }

    public ClickHouseConnectionSettings Settings { get; }

    /// <summary>The default database, already quoted for use in SQL.</summary>
    public string Database => ClickHouseSql.Identifier(Settings.Database);

    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            using var response = await _http.GetAsync(new Uri(Settings.Endpoint, "ping"), cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>Runs a statement that returns nothing of interest (DDL, INSERT ... SELECT, ALTER).</summary>
    public async Task ExecuteAsync(string sql, ClickHouseQueryOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(sql, new StringContent(sql, Encoding.UTF8), options, useDatabase: true, cancellationToken);
    }

    /// <summary>Runs a statement outside the default database (creating that database, for one).</summary>
    public async Task ExecuteWithoutDatabaseAsync(string sql, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(sql, new StringContent(sql, Encoding.UTF8), null, useDatabase: false, cancellationToken);
    }

    /// <summary>Runs a query and returns its result as TabSeparated text, trimmed (for scalars).</summary>
    public async Task<string> QueryScalarAsync(string sql, ClickHouseQueryOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(sql, new StringContent(sql + "\nFORMAT TabSeparated", Encoding.UTF8), options, useDatabase: options?.UseDefaultDatabase ?? true, cancellationToken);
        return (await response.Content.ReadAsStringAsync(cancellationToken)).TrimEnd('\n');
    }

    /// <summary>Runs a query whose answer is one whole number (a count, a Unix time).</summary>
    public async Task<long> QueryLongAsync(string sql, ClickHouseQueryOptions? options = null, CancellationToken cancellationToken = default) =>
        long.Parse(await QueryScalarAsync(sql, options, cancellationToken), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Runs a query and deserializes each JSONEachRow line into <typeparamref name="T"/>.</summary>
    public async Task<List<T>> QueryAsync<T>(string sql, JsonTypeInfo<T> typeInfo, ClickHouseQueryOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(sql, new StringContent(sql + "\nFORMAT JSONEachRow", Encoding.UTF8), options, useDatabase: true, cancellationToken);
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var rows = new List<T>();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length > 0)
            {
                rows.Add(JsonSerializer.Deserialize(line, typeInfo) ?? throw new JsonException("ClickHouse returned a null row."));
            }
        }

        return rows;
    }

    /// <summary>Inserts rows in one request as JSONEachRow and returns how many were sent.</summary>
    public async Task<int> InsertAsync<T>(string table, IReadOnlyCollection<T> rows, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken = default)
    {
        if (rows.Count == 0)
        {
            return 0;
        }

        var sql = $"INSERT INTO {table} FORMAT JSONEachRow";
        var content = new JsonLinesContent<T>(rows, typeInfo);
        using var response = await SendAsync(sql, content, options: null, useDatabase: true, cancellationToken, queryInUrl: true);
        return rows.Count;
    }

    /// <summary>
    /// Inserts rows already written in RowBinary (<see cref="RowBinaryBuffer"/>) in one request. <paramref name="columns"/> is
    /// the INSERT's column list, in the rows' order; columns it leaves out take their DEFAULT.
    /// </summary>
    public async Task InsertRowBinaryAsync(string table, string columns, ReadOnlyMemory<byte> rows, CancellationToken cancellationToken = default)
    {
        if (rows.IsEmpty)
        {
            return;
        }

        var sql = $"INSERT INTO {table} ({columns}) FORMAT RowBinary";
        using var response = await SendAsync(sql, new ReadOnlyMemoryContent(rows), options: null, useDatabase: true, cancellationToken, queryInUrl: true);
    }

    private async Task<HttpResponseMessage> SendAsync(
        string sql, HttpContent content, ClickHouseQueryOptions? options, bool useDatabase,
        CancellationToken cancellationToken, bool queryInUrl = false)
    {
        using var activity = ActivitySource.StartActivity("clickhouse", ActivityKind.Client);
        activity?.SetTag("db.system", "clickhouse");
        activity?.SetTag("db.statement", sql.Length > 500 ? sql[..500] : sql);

        var query = new StringBuilder("?");
        if (useDatabase)
        {
            query.Append("database=").Append(Uri.EscapeDataString(Settings.Database)).Append('&');
        }

        if (queryInUrl)
        {
            query.Append("query=").Append(Uri.EscapeDataString(sql)).Append('&');
        }

        // Errors are sent with a proper status instead of being appended to a half-streamed body.
        query.Append("wait_end_of_query=1&output_format_json_quote_64bit_integers=0");
        if (options?.QueryId is { } queryId)
        {
            query.Append("&query_id=").Append(Uri.EscapeDataString(queryId));
        }

        if (options?.MaxExecutionTime is { } max)
        {
            query.Append("&max_execution_time=").Append((int)Math.Ceiling(max.TotalSeconds));
        }

        if (options?.MaxResultRows is { } maxRows)
        {
            query.Append("&max_result_rows=").Append(maxRows).Append("&result_overflow_mode=throw");
        }

        if (options?.Readonly == true)
        {
            query.Append("&readonly=2");
        }

        foreach (var (setting, value) in options?.Settings ?? new Dictionary<string, string>())
        {
            query.Append('&').Append(Uri.EscapeDataString(ClickHouseSql.IsIdentifier(setting) ? setting : throw new ArgumentException($"'{setting}' is not a setting name.")))
                .Append('=').Append(Uri.EscapeDataString(value));
        }

        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Settings.Endpoint, query.ToString())) { Content = content };
        request.Headers.Authorization = _auth;
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw new ClickHouseUnavailableException($"ClickHouse at {Settings.Endpoint} is unreachable: {ex.Message}", ex);
        }

        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            response.Dispose();
            var error = ClickHouseServerException.FromResponse(response.StatusCode, body);
            activity?.SetStatus(ActivityStatusCode.Error, error.Message);
            throw error;
        }

        return response;
    }

    private sealed class JsonLinesContent<T>(IReadOnlyCollection<T> rows, JsonTypeInfo<T> typeInfo) : HttpContent
    {
        private static readonly byte[] NewLine = "\n"u8.ToArray();

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            foreach (var row in rows)
            {
                await JsonSerializer.SerializeAsync(stream, row, typeInfo);
                await stream.WriteAsync(NewLine);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}

/// <summary>Per-query settings sent as URL parameters.</summary>
public sealed record ClickHouseQueryOptions
{
    public string? QueryId { get; init; }

    public TimeSpan? MaxExecutionTime { get; init; }

    public long? MaxResultRows { get; init; }

    /// <summary>Run in the connection's database (false: in the server's default one, e.g. before the database exists).</summary>
    public bool UseDefaultDatabase { get; init; } = true;

    /// <summary>Refuse writes for this query (readonly=2 still allows settings).</summary>
    public bool Readonly { get; init; }

    /// <summary>Other server settings for this query, e.g. <c>max_bytes_before_external_group_by</c>.</summary>
    public IReadOnlyDictionary<string, string>? Settings { get; init; }
}

/// <summary>The server could not be reached at all: retry later.</summary>
public sealed class ClickHouseUnavailableException(string message, Exception inner) : Exception(message, inner);
