namespace LoadGenerator.Measuring;

/// <summary>
/// Reads the Ingestor's log written during this run, for the one known cause of loss worth naming:
/// the consumer asked for an offset the broker no longer holds ("Offset out of range"), and
/// librdkafka reset it to the earliest retained one, skipping everything in between. The development
/// broker (librdkafka's mock cluster) keeps only about 5 MiB per partition, so an Ingestor that falls
/// that far behind loses acknowledged events.
/// </summary>
public sealed class IngestorLog(string stateDirectory)
{
    private readonly string _path = Path.Combine(stateDirectory, "logs", "ingestor.log");
    private long _start;

    public string Directory => Path.GetDirectoryName(_path)!;

    /// <summary>Remembers where the log ends now, so only this run's lines are read later.</summary>
    public void Mark() => _start = File.Exists(_path) ? new FileInfo(_path).Length : 0;

    public int OffsetResetsSinceMark()
    {
        if (!File.Exists(_path))
        {
            return 0;
        }

        try
        {
            using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Min(_start, stream.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            var resets = 0;
            while (reader.ReadLine() is { } line)
            {
                if (line.Contains("Offset out of range", StringComparison.Ordinal))
                {
                    resets++;
                }
            }

            return resets;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
