using System.Buffers.Binary;

namespace IommuSan.Tests.Fuzz;

/// <summary>
/// Finds the length, count and offset fields of a little-endian trace.dat v7 file, so the fuzzer can aim
/// absurd values at exactly the bytes a reader trusts. An independent walk after trace-cmd's
/// trace-cmd.dat.v7(5): initial format (magic, "7\0", endianness, long size, u32 page size, compression
/// name and version strings, u64 first options offset), then sections back to back, each a 16-byte
/// header (u16 id, u16 flags, u32 string id, u64 size) and, when flag 1 says compressed, a u32 compressed
/// and u32 uncompressed size; uncompressed options sections list u16 id, u32 size, data, where ids 16..21
/// hold a section offset and BUFFER (3) holds per-CPU {u32 cpu, u64 offset, u64 size}.
/// Stops quietly at anything unexpected: it only has to find the fields of valid seed files.
/// </summary>
internal static class V7Fields
{
    private const int SectionHeaderSize = 16;
    private const ushort FlagCompressed = 1;
    private const ushort OptionsSection = 0;
    private const ushort BufferOption = 3;

    public static List<(string Name, long Offset, int Width)> Find(byte[] file)
    {
        var fields = new List<(string Name, long Offset, int Width)>();
        var span = file.AsSpan();
        if (span.Length < 30 || span[10] != (byte)'7')
        {
            return fields;
        }

        fields.Add(("long size", 13, 1));
        fields.Add(("page size", 14, 4));
        var compressionEnd = span[18..].IndexOf((byte)0) + 18;
        var versionEnd = span[(compressionEnd + 1)..].IndexOf((byte)0) + compressionEnd + 1;
        long at = versionEnd + 1;
        fields.Add(("first options offset", at, 8));
        at += 8;

        // Sections follow each other; the flyrecord data follows its buffer option's offsets, not a header,
        // so the walk also stops at the first thing that does not look like a section header.
        for (var n = 0; n < 64 && at + SectionHeaderSize <= span.Length; n++)
        {
            var id = BinaryPrimitives.ReadUInt16LittleEndian(span[(int)at..]);
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(span[(int)(at + 2)..]);
            var size = BinaryPrimitives.ReadUInt64LittleEndian(span[(int)(at + 8)..]);
            if (id > 22 || flags > 1 || size > (ulong)span.Length)
            {
                break;
            }

            var name = $"section {id} @{at}";
            fields.Add(($"{name} id", at, 2));
            fields.Add(($"{name} size", at + 8, 8));
            var body = at + SectionHeaderSize;
            if ((flags & FlagCompressed) != 0 && body + 8 <= span.Length)
            {
                fields.Add(($"{name} compressed size", body, 4));
                fields.Add(($"{name} uncompressed size", body + 4, 4));
            }
            else if (id == OptionsSection)
            {
                Options(span, body, (long)size, name, fields);
            }

            at = body + (long)size;
        }

        return fields;
    }

    private static void Options(ReadOnlySpan<byte> span, long body, long size, string section, List<(string, long, int)> fields)
    {
        var end = Math.Min(body + size, span.Length);
        var at = body;
        while (at + 6 <= end)
        {
            var id = BinaryPrimitives.ReadUInt16LittleEndian(span[(int)at..]);
            var length = BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(at + 2)..]);
            fields.Add(($"{section} option {id} size", at + 2, 4));
            var data = at + 6;
            if (id is >= 16 and <= 21 || id == OptionsSection)
            {
                fields.Add(($"{section} option {id} offset", data, 8));
            }
            else if (id == BufferOption && length >= 8)
            {
                fields.Add(($"{section} buffer offset", data, 8));
                Buffer(span, data, Math.Min(data + length, end), section, fields);
            }

            at = data + length;
        }
    }

    // BUFFER: u64 offset, name\0, clock\0, u32 page size, u32 cpu count, then the per-CPU entries.
    private static void Buffer(ReadOnlySpan<byte> span, long data, long end, string section, List<(string, long, int)> fields)
    {
        var at = data + 8;
        for (var strings = 0; strings < 2 && at < end; strings++)
        {
            var nul = span[(int)at..(int)end].IndexOf((byte)0);
            if (nul < 0)
            {
                return;
            }

            at += nul + 1;
        }

        if (at + 8 > end)
        {
            return;
        }

        fields.Add(($"{section} buffer page size", at, 4));
        fields.Add(($"{section} buffer cpu count", at + 4, 4));
        at += 8;
        for (var cpu = 0; at + 20 <= end; cpu++, at += 20)
        {
            fields.Add(($"{section} cpu{cpu} data offset", at + 4, 8));
            fields.Add(($"{section} cpu{cpu} data size", at + 12, 8));
        }
    }
}
