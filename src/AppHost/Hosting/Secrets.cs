using System.Security.Cryptography;

namespace AppHost.Hosting;

/// <summary>Generated secrets of a local run (e.g. the admin token), one file each under <c>STATE/secrets</c>, readable by the owner only.</summary>
public static class Secrets
{
    public static string GetOrCreate(string stateDirectory, string name)
    {
        var directory = Directory.CreateDirectory(Path.Combine(stateDirectory, "secrets")).FullName;
        var file = Path.Combine(directory, name);
        if (File.Exists(file) && File.ReadAllText(file).Trim() is { Length: >= 24 } existing)
        {
            return existing;
        }

        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        File.WriteAllText(file, secret);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return secret;
    }
}
