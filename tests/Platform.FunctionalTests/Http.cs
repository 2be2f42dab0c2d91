using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>Small helpers for talking JSON to the services.</summary>
internal static class Http
{
    public static StringContent Json(string body, string contentType = "application/json") => new(body, Encoding.UTF8, contentType);

    public static async Task<JsonObject> ReadObjectAsync(this HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonObject>())!;

    public static async Task<JsonObject> GetObjectAsync(this HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        response.EnsureSuccessStatusCode();
        return await response.ReadObjectAsync();
    }

    public static async Task<JsonObject> CountAsync(this HttpClient api, string query = "")
    {
        using var response = await api.GetAsync("/v1/events/count" + query);
        response.EnsureSuccessStatusCode();
        return await response.ReadObjectAsync();
    }

    /// <summary>Polls the Api until the total reaches <paramref name="expected"/> (bounded); returns the last answer.</summary>
    public static Task<JsonObject> CountUntilAsync(this HttpClient api, long expected, string query = "") =>
        Eventually.MatchesAsync(() => api.CountAsync(query), r => (long)r["total"]! >= expected);

    public static string Event(string name, string user, string? id = null, string? timestamp = null) =>
        new JsonObject
        {
            ["event"] = name,
            ["user_id"] = user,
            ["event_id"] = id ?? Guid.NewGuid().ToString("N"),
            ["timestamp"] = timestamp ?? DateTimeOffset.UtcNow.AddMinutes(-1).ToString("O"),
        }.ToJsonString();
}
