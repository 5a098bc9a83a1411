using System.Buffers.Binary;
using System.Text;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Trace.Dat;

/// <summary>
/// One checked cursor over bytes of a trace.dat: every read checks what remains and fails with a
/// <see cref="TraceDataException"/> naming the file, the absolute byte offset and what was expected.
/// The byte order is fixed when the cursor is made (the file's, from its initial format).
/// For bytes that came out of a compressed section there is no file offset per byte: the cursor then
/// reports the section's file offset and adds the offset inside the decompressed data to the message.
/// </summary>
internal ref struct DatCursor
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly long _fileOffset;
    private readonly bool _bigEndian;
    private readonly string _path;
    private readonly string? _decompressedWhat;
    private readonly int? _cpu;
    private int _pos;

    /// <param name="data">The bytes to read.</param>
    /// <param name="fileOffset">Absolute file offset of data[0] (or of the compressed section holding it).</param>
    /// <param name="bigEndian">The file's byte order.</param>
    /// <param name="path">The file as the user named it.</param>
    /// <param name="decompressedWhat">When data was decompressed: what it is (e.g. "event formats section").</param>
    /// <param name="cpu">The CPU whose data this is, if any.</param>
    public DatCursor(ReadOnlySpan<byte> data, long fileOffset, bool bigEndian, string path, string? decompressedWhat = null, int? cpu = null)
    {
        _data = data;
        _fileOffset = fileOffset;
        _bigEndian = bigEndian;
        _path = path;
        _decompressedWhat = decompressedWhat;
        _cpu = cpu;
        _pos = 0;
    }

    public readonly int Position => _pos;

    public readonly int Remaining => _data.Length - _pos;

    public readonly bool IsAtEnd => _pos >= _data.Length;

    /// <summary>The absolute file offset of the next byte (the section's offset for decompressed data).</summary>
    public readonly long FileOffset => _decompressedWhat is null ? _fileOffset + _pos : _fileOffset;

    public byte ReadByte(string what)
    {
        Need(1, what);
        return _data[_pos++];
    }

    public ushort ReadUInt16(string what)
    {
        Need(2, what);
        var s = _data.Slice(_pos, 2);
        _pos += 2;
        return _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);
    }

    public uint ReadUInt32(string what)
    {
        Need(4, what);
        var s = _data.Slice(_pos, 4);
        _pos += 4;
        return _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);
    }

    public ulong ReadUInt64(string what)
    {
        Need(8, what);
        var s = _data.Slice(_pos, 8);
        _pos += 8;
        return _bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(s) : BinaryPrimitives.ReadUInt64LittleEndian(s);
    }

    /// <summary>A u64 size that must fit in what remains (and in an int).</summary>
    public int ReadSize64(string what)
    {
        var at = FileOffset;
        var size = ReadUInt64(what);
        if (size > (ulong)Remaining)
        {
            throw ErrorAt(at, $"{what} is {size} bytes but only {Remaining} bytes remain");
        }

        return (int)size;
    }

    /// <summary>A u32 size that must fit in what remains.</summary>
    public int ReadSize32(string what)
    {
        var at = FileOffset;
        var size = ReadUInt32(what);
        if (size > (uint)Remaining)
        {
            throw ErrorAt(at, $"{what} is {size} bytes but only {Remaining} bytes remain");
        }

        return (int)size;
    }

    /// <summary>A u32 count of items of at least <paramref name="minItemSize"/> bytes each, checked against what remains.</summary>
    public int ReadCount32(string what, int minItemSize)
    {
        var at = FileOffset;
        var count = ReadUInt32(what);
        if (count > (uint)(Remaining / Math.Max(1, minItemSize)))
        {
            throw ErrorAt(at, $"{what} is {count} but only {Remaining} bytes remain (at least {minItemSize} bytes each)");
        }

        return (int)count;
    }

    public ReadOnlySpan<byte> ReadBytes(int count, string what)
    {
        if (count < 0)
        {
            throw Error($"{what} has a negative length {count}");
        }

        Need(count, what);
        var s = _data.Slice(_pos, count);
        _pos += count;
        return s;
    }

    public void Skip(int count, string what) => ReadBytes(count, what);

    /// <summary>Expects exactly these bytes (a tag such as "header_page\0").</summary>
    public void Expect(ReadOnlySpan<byte> tag, string what)
    {
        var at = FileOffset;
        var got = ReadBytes(tag.Length, what);
        if (!got.SequenceEqual(tag))
        {
            throw ErrorAt(at, $"expected {what} \"{Printable(tag)}\" but found \"{Printable(got)}\"");
        }
    }

    /// <summary>A NUL-terminated string of at most <paramref name="maxLength"/> bytes (NUL excluded).</summary>
    public string ReadCString(string what, int maxLength)
    {
        var rest = _data[_pos..];
        var nul = rest[..Math.Min(rest.Length, maxLength + 1)].IndexOf((byte)0);
        if (nul < 0)
        {
            throw Error(rest.Length <= maxLength
                ? $"truncated: {what} has no terminating NUL before the end of the data"
                : $"{what} is longer than {maxLength} bytes (no NUL found)");
        }

        var s = Encoding.UTF8.GetString(rest[..nul]);
        _pos += nul + 1;
        return s;
    }

    public readonly TraceDataException Error(string problem) => ErrorAt(FileOffset, problem);

    public readonly TraceDataException ErrorAt(long fileOffset, string problem)
    {
        var where = _decompressedWhat is null ? problem : $"{problem} (at byte {_pos} of the decompressed {_decompressedWhat})";
        return new TraceDataException(_path, where, fileOffset, cpu: _cpu);
    }

    private readonly void Need(int count, string what)
    {
        if (count > _data.Length - _pos)
        {
            throw Error($"truncated: expected {count} bytes of {what} but only {_data.Length - _pos} remain");
        }
    }

    internal static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        foreach (var b in bytes)
        {
            if (b is >= 0x20 and < 0x7f)
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append(b == 0 ? "\\0" : $"\\x{b:x2}");
            }
        }

        return sb.ToString();
    }
}
