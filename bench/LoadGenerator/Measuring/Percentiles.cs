namespace LoadGenerator.Measuring;

/// <summary>Nearest-rank percentiles of a complete sample (every request is kept, so nothing is estimated).</summary>
public sealed class Percentiles
{
    private readonly double[] _sorted;

    public Percentiles(IEnumerable<double> values)
    {
        _sorted = [.. values];
        Array.Sort(_sorted);
    }

    public int Count => _sorted.Length;

    public double this[double percentile] =>
        _sorted.Length == 0 ? double.NaN : _sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * _sorted.Length) - 1, 0, _sorted.Length - 1)];

    public double Max => _sorted.Length == 0 ? double.NaN : _sorted[^1];
}
