using Platform.Testing;

namespace Platform.FunctionalTests;

/// <summary>One running platform shared by the tests that only send and read (each uses its own tenant).</summary>
[CollectionDefinition(Name)]
public sealed class PlatformCollection : ICollectionFixture<PlatformFixture>
{
    public const string Name = "platform";
}
