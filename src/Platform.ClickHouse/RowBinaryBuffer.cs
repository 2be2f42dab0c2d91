using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Platform.ClickHouse;

/// <summary>
/// Rows in ClickHouse's RowBinary input format, appended column by column into one growing buffer
/// (pooled: a batch's buffer is reused for the next). RowBinary is the format the server parses
/// cheapest (no text to scan) and reads the same on 18.16 and current releases; the column list of the
/// INSERT names what each row holds, in order.
/// </summary>
public sealed class RowBinaryBuffer : IDisposable
{
    private byte[] _buffer;

    public RowBinaryBuffer(int initialCapacity = 64 * 1024) => _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);

    /// <summary>Bytes written so far: a row's start is the length before it was written.</summary>
    public int Length { get; private set; }

    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, Length);

    public ReadOnlyMemory<byte> Slice(int start, int end) => _buffer.AsMemory(start, end - start);

    public void Clear() => Length = 0;

    /// <summary>Drops what was written from <paramref name="length"/> on: a row that could not be completed.</summary>
    public void Truncate(int length) => Length = Math.Min(Length, length);

    public void UInt8(byte value) => Span(1)[0] = value;

    public void UInt16(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Span(2), value);

    public void UInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Span(4), value);

    /// <summary>A <c>DateTime</c>: Unix seconds as UInt32, so 1970-2106.</summary>
    public void DateTime(long unixSeconds) =>
        UInt32(unixSeconds is >= 0 and <= uint.MaxValue ? (uint)unixSeconds : throw new ArgumentOutOfRangeException(nameof(unixSeconds), unixSeconds, "A DateTime holds 1970-2106."));

    /// <summary>A <c>String</c> from UTF-8 bytes: their length as a LEB128 varint, then the bytes.</summary>
    public void String(ReadOnlySpan<byte> utf8)
    {
        VarUInt((uint)utf8.Length);
        utf8.CopyTo(Span(utf8.Length));
    }

    public void String(ReadOnlySpan<char> text)
    {
        var length = Encoding.UTF8.GetByteCount(text);
        VarUInt((uint)length);
        Encoding.UTF8.GetBytes(text, Span(length));
    }

    private void VarUInt(uint value)
    {
        while (value >= 0x80)
        {
            Span(1)[0] = (byte)(value | 0x80);
            value >>= 7;
        }

        Span(1)[0] = (byte)value;
    }

    private Span<byte> Span(int size)
    {
        if (Length + size > _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, Length + size));
            _buffer.AsSpan(0, Length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        var span = _buffer.AsSpan(Length, size);
        Length += size;
        return span;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }

        Length = 0;
    }
}
