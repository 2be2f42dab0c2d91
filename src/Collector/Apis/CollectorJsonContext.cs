using System.Text.Json;
using System.Text.Json.Serialization;
using Collector.Intake;
using Microsoft.AspNetCore.Builder;

namespace Collector;

[JsonSerializable(typeof(IntakeResult))]
[JsonSerializable(typeof(SegmentResult))]
[JsonSerializable(typeof(IReadOnlyList<EventError>))]
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
internal sealed partial class CollectorJsonContext : JsonSerializerContext;

[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(Dictionary<string, JsonElement>))]
internal sealed partial class IntakeJsonContext : JsonSerializerContext;
