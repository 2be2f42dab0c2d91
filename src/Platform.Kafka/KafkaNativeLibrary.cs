using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace Platform.Kafka;

/// <summary>
/// Points Confluent.Kafka at Debian's librdkafka1. The package looks for <c>libdl</c> and
/// <c>librdkafka</c>, names Debian does not ship; without this mapping the first client throws.
/// </summary>
public static class KafkaNativeLibrary
{
    private static readonly Lazy<bool> Registered = new(Register);

    /// <summary>Call before creating any Kafka client; safe to call many times.</summary>
    public static void EnsureRegistered() => _ = Registered.Value;

    private static bool Register()
    {
        NativeLibrary.SetDllImportResolver(typeof(Library).Assembly, Resolve);
        return true;
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        var mapped = name switch
        {
            "libdl" or "libdl.so" => "libdl.so.2",
            "librdkafka" or "librdkafka.so" => "librdkafka.so.1",
            _ => null,
        };
        if (mapped is null)
        {
            return IntPtr.Zero;
        }

        if (NativeLibrary.TryLoad(mapped, assembly, searchPath, out var handle))
        {
            return handle;
        }

        throw new DllNotFoundException(
            $"Could not load {mapped}. Install Debian's librdkafka1 package (apt-get install librdkafka1).");
    }
}
