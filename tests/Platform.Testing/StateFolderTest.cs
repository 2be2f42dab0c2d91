using Xunit;

namespace Platform.Testing;

/// <summary>A test class that owns one state folder for its life: made fresh before, deleted after.</summary>
public abstract class StateFolderTest(string purpose) : IAsyncLifetime
{
    protected string State { get; private set; } = "";

    public virtual async Task InitializeAsync() => State = await TestState.NewDirectoryAsync(purpose);

    public virtual Task DisposeAsync()
    {
        TestState.Delete(State);
        return Task.CompletedTask;
    }
}
