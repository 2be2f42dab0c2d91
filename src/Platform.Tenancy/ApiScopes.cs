namespace Platform.Tenancy;

/// <summary>
/// What a read credential may read. Every read key and token reads aggregated metrics; reading one
/// person's events (the user timeline) is personal data and needs the <see cref="Users"/> scope.
/// </summary>
public static class ApiScopes
{
    public const string Metrics = "metrics";
    public const string Users = "users";

    /// <summary>The scopes an admin may add to a read key (metrics comes with every one).</summary>
    public static readonly IReadOnlySet<string> Grantable = new HashSet<string>(StringComparer.Ordinal) { Users };

    public const string Rule = "scopes may only be given to read keys, and the only grantable scope is \"users\".";
}
