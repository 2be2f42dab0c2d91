namespace Transformer.Tests;

public sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider { public DateTimeOffset Now {get;set;} = now; public override DateTimeOffset GetUtcNow() => Now; }
