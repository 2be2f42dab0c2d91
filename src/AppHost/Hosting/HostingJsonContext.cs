using System.Text.Json.Serialization;

namespace AppHost.Hosting;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(PidRecord))]
[JsonSerializable(typeof(DemoCredentials))]
internal sealed partial class HostingJsonContext : JsonSerializerContext;
