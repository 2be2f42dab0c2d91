using System.Security.Claims;
using Microsoft.Extensions.Options;

namespace Api.Querying;

/// <summary>What every metrics endpoint needs to turn its parameters into a request: the caller's scope, the limits, the clock.</summary>
public sealed class MetricsContext(TenantScopes scopes, IOptions<ApiOptions> options, TimeProvider time)
{
    public IOptions<ApiOptions> Options { get; } = options;

    public TimeProvider Time => time;

    public Task<TenantScope> ScopeAsync(ClaimsPrincipal user, CancellationToken cancellationToken) => scopes.ResolveAsync(user, cancellationToken);

    public TimeRange Range(TenantScope scope, string? from, string? to, string? tz, TimeSpan defaultSpan) =>
        TimeRange.Parse(from, to, tz, scope, time.GetUtcNow(), defaultSpan, Options.Value.MaxRangeDays);

    public IReadOnlyList<string> EventList(string parameter, string[]? events)
    {
        var list = (events ?? []).Select(e => EventNames.Validate(parameter, e)).Distinct(StringComparer.Ordinal).ToList();
        return list.Count <= Options.Value.MaxEvents
            ? list
            : throw new BadQueryException(parameter, "Too many events", $"A query may name at most {Options.Value.MaxEvents} events.");
    }

    public IReadOnlyList<EventFilter> Filters(string parameter, string[]? filters)
    {
        var list = (filters ?? []).Select(f => EventFilter.Parse(parameter, f)).ToList();
        return list.Count <= Options.Value.MaxFilters
            ? list
            : throw new BadQueryException(parameter, "Too many filters", $"A query may have at most {Options.Value.MaxFilters} filters.");
    }
}
