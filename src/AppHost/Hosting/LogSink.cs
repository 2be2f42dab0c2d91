using System.Collections.Concurrent;

namespace AppHost.Hosting;

/// <summary>
/// One console stream for every resource, each line prefixed with the resource's name in its own
/// colour, and a log file per resource in the state folder.
/// </summary>
public sealed class LogSink : IDisposable
{
    private static readonly ConsoleColor[] Palette =
        [ConsoleColor.Cyan, ConsoleColor.Green, ConsoleColor.Yellow, ConsoleColor.Magenta, ConsoleColor.Blue,
         ConsoleColor.DarkCyan, ConsoleColor.DarkGreen, ConsoleColor.DarkYellow, ConsoleColor.DarkMagenta];

    private readonly object _consoleLock = new();
    private readonly ConcurrentDictionary<string, StreamWriter> _files = new();
    private readonly ConcurrentDictionary<string, ConsoleColor> _colors = new();
    private readonly string _directory;
    private readonly bool _console;
    private readonly bool _color;
    private int _prefixWidth = 11;

    public LogSink(string directory, bool writeToConsole)
    {
        _directory = directory;
        _console = writeToConsole;
        _color = writeToConsole && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null;
        Directory.CreateDirectory(directory);
    }

    public string PathOf(string resource) => Path.Combine(_directory, resource + ".log");

    public void Write(string resource, string line, bool isError = false)
    {
        var file = _files.GetOrAdd(resource, r => new StreamWriter(new FileStream(PathOf(r), FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true });
        lock (file)
        {
            file.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
        }

        if (!_console)
        {
            return;
        }

        var color = _colors.GetOrAdd(resource, _ => Palette[_colors.Count % Palette.Length]);
        lock (_consoleLock)
        {
            _prefixWidth = Math.Max(_prefixWidth, resource.Length);
            if (_color)
            {
                Console.ForegroundColor = color;
            }

            Console.Write(resource.PadRight(_prefixWidth) + " | ");
            if (_color)
            {
                Console.ResetColor();
                if (isError)
                {
                    Console.ForegroundColor = ConsoleColor.Red;
                }
            }

            Console.WriteLine(line);
            if (_color && isError)
            {
                Console.ResetColor();
            }
        }
    }

    /// <summary>The last lines of a resource's log, to show why it failed.</summary>
    public IReadOnlyList<string> Tail(string resource, int lines)
    {
        try
        {
            using var stream = new FileStream(PathOf(resource), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            var queue = new Queue<string>();
            while (reader.ReadLine() is { } line)
            {
                queue.Enqueue(line);
                if (queue.Count > lines)
                {
                    queue.Dequeue();
                }
            }

            return queue.ToList();
        }
        catch (FileNotFoundException)
        {
            return [];
        }
    }

    public void Dispose()
    {
        foreach (var file in _files.Values)
        {
            lock (file)
            {
                file.Dispose();
            }
        }
    }
}
