using System.Buffers.Binary;
using System.Text;

namespace IommuSan.Tests.Fuzz;

/// <summary>
/// Deterministic mutations of a seed: everything comes from one <see cref="Random"/> made from the case
/// seed, so a case replays byte for byte. Byte-level mutations apply to every shape; length-field
/// mutations to trace.dat seeds with a field map; line mutations to text.
/// </summary>
internal static class Mutator
{
    /// <summary>Values that break bounds checks: zero, all ones, the sign edges.</summary>
    private static readonly byte[] InterestingBytes = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe];

    /// <summary>Values for whole length/count/offset fields: zero, tiny, page-ish, huge, sign edges, "just past".</summary>
    private static readonly ulong[] InterestingValues =
    [
        0, 1, 2, 7, 8, 0xff, 0x1000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x7fff_ffff_ffff_ffff, ulong.MaxValue, 0x1_0000_0000,
    ];

    /// <summary>Text fragments that trip tokenizers: separators, signs, huge numbers, lone brackets.</summary>
    private static readonly string[] InterestingText =
    [
        "", " ", ":", "-", "[", "]", "=", "0x", "-1", "18446744073709551616", "99999999999999999999.999999", "\t", "\r", "\0",
        "[999999]", "CPU:9999 [LOST 18446744073709551615 EVENTS]", "<...>-0", "0xffffffffffffffff", "(", ")", "{", "}",
        "iommu:map:", "kmem:mm_page_free:", "#", "cpus=2147483647", "\u00e9\u00e9", "\xff",
    ];

    public static byte[] Mutate(FuzzSeed seed, Random rng, out string description)
    {
        var data = new List<byte>(seed.Bytes);
        var steps = new List<string>();
        var count = 1 + rng.Next(rng.Next(2) == 0 ? 2 : 6);
        for (var i = 0; i < count; i++)
        {
            steps.Add(seed.Shape switch
            {
                SeedShape.Text when rng.Next(3) != 0 => TextStep(data, rng),
                SeedShape.TraceDat when seed.Fields is { Count: > 0 } && rng.Next(3) == 0 => FieldStep(data, seed.Fields, rng),
                _ => ByteStep(data, rng, seed.Shape),
            });
        }

        description = string.Join("; ", steps);
        return [.. data];
    }

    private static string ByteStep(List<byte> data, Random rng, SeedShape shape)
    {
        if (data.Count == 0)
        {
            data.Add(InterestingBytes[rng.Next(InterestingBytes.Length)]);
            return "insert into empty";
        }

        // Headers are where most length fields live: bias a third of the mutations to the first 4 KiB.
        var at = rng.Next(3) == 0 ? rng.Next(Math.Min(4096, data.Count)) : rng.Next(data.Count);
        switch (rng.Next(shape == SeedShape.Compressed ? 5 : 7))
        {
            case 0:
                var bit = rng.Next(8);
                data[at] ^= (byte)(1 << bit);
                return $"flip bit {bit} @{at}";
            case 1:
                var value = InterestingBytes[rng.Next(InterestingBytes.Length)];
                data[at] = value;
                return $"set @{at}=0x{value:x2}";
            case 2:
                data.RemoveRange(at, data.Count - at);
                return $"truncate to {at}";
            case 3:
                var random = (byte)rng.Next(256);
                data[at] = random;
                return $"set @{at}=0x{random:x2} (random)";
            case 4:
                var width = new[] { 2, 4, 8 }[rng.Next(3)];
                if (at + width > data.Count)
                {
                    return "skip wide set past end";
                }

                WriteLittleEndian(data, at, width, InterestingValues[rng.Next(InterestingValues.Length)]);
                return $"set u{width * 8} @{at} interesting";
            case 5:
                var length = Math.Min(1 + rng.Next(4096), data.Count - at);
                var to = rng.Next(data.Count);
                data.InsertRange(to, data.GetRange(at, length));
                return $"duplicate {length} bytes @{at} to {to}";
            default:
                var cut = Math.Min(1 + rng.Next(4096), data.Count - at);
                data.RemoveRange(at, cut);
                return $"delete {cut} bytes @{at}";
        }
    }

    private static string FieldStep(List<byte> data, IReadOnlyList<(string Name, long Offset, int Width)> fields, Random rng)
    {
        var (name, offset, width) = fields[rng.Next(fields.Count)];
        if (offset + width > data.Count)
        {
            return $"skip field {name} past end";
        }

        var old = ReadLittleEndian(data, (int)offset, width);
        var value = rng.Next(4) switch
        {
            0 => InterestingValues[rng.Next(InterestingValues.Length)],
            1 => old + (ulong)(rng.Next(33) - 16),
            2 => old * 2,
            _ => (ulong)rng.NextInt64(0, Math.Max(1, data.Count * 2L)),
        };
        WriteLittleEndian(data, (int)offset, width, value);
        return $"field {name} @{offset} 0x{old:x} -> 0x{value:x}";
    }

    private static string TextStep(List<byte> data, Random rng)
    {
        // Work on lines; byte positions are recomputed each step, so steps compose.
        var text = data.ToArray();
        var lines = SplitLines(text);
        if (lines.Count == 0)
        {
            return ByteStep(data, rng, SeedShape.Text);
        }

        var i = rng.Next(lines.Count);
        string step;
        switch (rng.Next(8))
        {
            case 0:
                var j = rng.Next(lines.Count);
                (lines[i], lines[j]) = (lines[j], lines[i]);
                step = $"swap lines {i + 1} and {j + 1}";
                break;
            case 1:
                lines.RemoveAt(i);
                step = $"delete line {i + 1}";
                break;
            case 2:
                var times = 1 + rng.Next(3);
                for (var t = 0; t < times; t++)
                {
                    lines.Insert(i, lines[i]);
                }

                step = $"duplicate line {i + 1} x{times}";
                break;
            case 3:
                // Splice: the head of one line glued to the tail of another (a torn write).
                var other = lines[rng.Next(lines.Count)];
                var a = rng.Next(lines[i].Length + 1);
                var b = rng.Next(other.Length + 1);
                lines[i] = [.. lines[i][..a], .. other[b..]];
                step = $"splice line {i + 1} at {a}";
                break;
            case 4:
                var cut = rng.Next(lines[i].Length + 1);
                lines[i] = lines[i][..cut];
                step = $"cut line {i + 1} at {cut}";
                break;
            case 5:
                var token = Encoding.UTF8.GetBytes(InterestingText[rng.Next(InterestingText.Length)]);
                var at = rng.Next(lines[i].Length + 1);
                lines[i] = [.. lines[i][..at], .. token, .. lines[i][at..]];
                step = $"insert token into line {i + 1} at {at}";
                break;
            case 6:
                // Replace one number (a run of digits) with an extreme one: CPU ids, pids, timestamps, sizes.
                step = $"number in line {i + 1}: " + ReplaceNumber(lines, i, rng);
                break;
            default:
                var block = 1 + rng.Next(Math.Min(200, lines.Count));
                var start = rng.Next(lines.Count - block + 1);
                lines.RemoveRange(start, block);
                step = $"delete {block} lines from {start + 1}";
                break;
        }

        data.Clear();
        for (var k = 0; k < lines.Count; k++)
        {
            data.AddRange(lines[k]);
            data.Add((byte)'\n');
        }

        return step;
    }

    private static string ReplaceNumber(List<byte[]> lines, int i, Random rng)
    {
        var line = lines[i];
        var starts = new List<int>();
        for (var k = 0; k < line.Length; k++)
        {
            if (char.IsAsciiDigit((char)line[k]) && (k == 0 || !char.IsAsciiDigit((char)line[k - 1])))
            {
                starts.Add(k);
            }
        }

        if (starts.Count == 0)
        {
            return "none";
        }

        var s = starts[rng.Next(starts.Count)];
        var e = s;
        while (e < line.Length && char.IsAsciiDigit((char)line[e]))
        {
            e++;
        }

        string[] replacements = ["0", "4294967295", "4294967296", "2147483648", "18446744073709551615", "99999999999999999999999", "9"];
        var r = replacements[rng.Next(replacements.Length)];
        lines[i] = [.. line[..s], .. Encoding.ASCII.GetBytes(r), .. line[e..]];
        return r;
    }

    private static List<byte[]> SplitLines(byte[] text)
    {
        var lines = new List<byte[]>();
        var start = 0;
        for (var k = 0; k < text.Length; k++)
        {
            if (text[k] == (byte)'\n')
            {
                lines.Add(text[start..k]);
                start = k + 1;
            }
        }

        if (start < text.Length)
        {
            lines.Add(text[start..]);
        }

        return lines;
    }

    private static ulong ReadLittleEndian(List<byte> data, int at, int width)
    {
        Span<byte> buffer = stackalloc byte[8];
        buffer.Clear();
        for (var k = 0; k < width; k++)
        {
            buffer[k] = data[at + k];
        }

        return BinaryPrimitives.ReadUInt64LittleEndian(buffer);
    }

    private static void WriteLittleEndian(List<byte> data, int at, int width, ulong value)
    {
        Span<byte> buffer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, value);
        for (var k = 0; k < width; k++)
        {
            data[at + k] = buffer[k];
        }
    }
}
