using IommuSan.Trace.Diagnostics;

namespace IommuSan.Trace.Dat;

/// <summary>
/// The seekable trace.dat stream with checked positioned reads: nothing is read past the end of the
/// file, and no buffer is sized by a number from the file before that number was checked against
/// the file's length and a fixed cap.
/// </summary>
internal sealed class DatFile
{
    private readonly Stream _stream;

    public DatFile(string path, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead || !stream.CanSeek)
        {
            throw new ArgumentException("a trace.dat stream must be readable and seekable (decompress .gz to a temporary file first)", nameof(stream));
        }

        Path = path;
        _stream = stream;
        Length = stream.Length;
    }

    public string Path { get; }

    public long Length { get; }

    /// <summary>The file's byte order, once the initial format was read.</summary>
    public bool BigEndian { get; set; }

    /// <summary>True when [offset, offset+count) lies inside the file.</summary>
    public bool Contains(long offset, long count) => offset >= 0 && count >= 0 && offset <= Length && count <= Length - offset;

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; the range must lie inside the file.</summary>
    public void ReadExactly(long offset, Span<byte> destination, string what, int? cpu = null)
    {
        if (!Contains(offset, destination.Length))
        {
            throw new TraceDataException(Path,
                $"truncated: expected {destination.Length} bytes of {what} but the file ends at byte {Length}", offset, cpu: cpu);
        }

        _stream.Position = offset;
        _stream.ReadExactly(destination);
    }

    /// <summary>Reads a block whose size came from the file: checked against <paramref name="cap"/> and the file's end.</summary>
    public byte[] ReadBlock(long offset, ulong count, int cap, string what, int? cpu = null)
    {
        if (count > (ulong)cap)
        {
            throw new TraceDataException(Path, $"{what} claims {count} bytes, more than the {cap} bytes accepted", offset, cpu: cpu);
        }

        var block = new byte[(int)count];
        ReadExactly(offset, block, what, cpu);
        return block;
    }

    /// <summary>Reads up to <paramref name="destination"/>.Length bytes (fewer at the end of the file).</summary>
    public int ReadAtMost(long offset, Span<byte> destination)
    {
        if (offset >= Length)
        {
            return 0;
        }

        var n = (int)Math.Min(destination.Length, Length - offset);
        _stream.Position = offset;
        _stream.ReadExactly(destination[..n]);
        return n;
    }

    public DatCursor Cursor(ReadOnlySpan<byte> data, long fileOffset, string? decompressedWhat = null, int? cpu = null) =>
        new(data, fileOffset, BigEndian, Path, decompressedWhat, cpu);

    public TraceDataException Error(long? offset, string problem, int? cpu = null) => new(Path, problem, offset, cpu: cpu);
}
