namespace Transformer.Tests;

/// <summary>A clock that says what the test tells it to; timers still run on the system clock.</summary>
public sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}
