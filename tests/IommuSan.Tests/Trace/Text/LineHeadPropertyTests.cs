using System.Text;
using CsCheck;
using IommuSan.Trace.Text;

namespace IommuSan.Tests.Trace.Text;

/// <summary>
/// The vector fast path for line heads must agree with the general parser on every line, event line
/// or not: generated heads in all three text forms (comm with spaces and dashes, tgid, irq-info
/// flags, perf's tid column), then the same lines with bytes of the head inserted, deleted or
/// replaced. Seeded, so a failure replays; CsCheck shrinks it and prints the seed.
/// </summary>
public sealed class LineHeadPropertyTests
{
    private static readonly Gen<string> Comm =
        Gen.String[Gen.Char["abcdefghijklmnopqrstuvwxyz-_ /:0123456789"], 1, 20];

    private static readonly string[] Names = ["map", "mm_page_free", "kprobes:__iommu_map", "a:b:c", "x", ":"];

    private static readonly Gen<string> Head = Gen.Select(
        Gen.Select(Comm, Gen.Int[0, 5], Gen.Long[0, 2_500_000_000], Gen.Int[0, 3], Gen.Int[0, 70_000]),
        Gen.Select(Gen.Int[0, 2], Gen.String[Gen.Char[".dhHNsXz0123456789"], 5, 5], Gen.Long[0, 99_999], Gen.Int[0, 999_999_999], Gen.Int[1, 9]),
        Gen.Select(Gen.Int[0, Names.Length - 1], Gen.Int[0, 3], Gen.String[Gen.Char["abc =0x1234(){},"], 24, 60]),
        (a, b, c) =>
        {
            var (comm, pad, pid, form, cpu) = a;
            var (flagsMode, flags, seconds, fraction, digits) = b;
            var (nameIndex, bodySpaces, body) = c;
            var name = Names[nameIndex];
            var sb = new StringBuilder();
            sb.Append(' ', pad * 3).Append(comm.PadLeft(16 - Math.Min(pad, 16)));
            sb.Append(form == 2 ? ' ' : '-').Append(pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (form == 1)
            {
                sb.Append(" (  ").Append(pid % 1000).Append(')');
            }

            sb.Append(' ', 1 + (pad % 3)).Append('[').Append(cpu.ToString("D3", System.Globalization.CultureInfo.InvariantCulture)).Append("] ");
            if (flagsMode == 1)
            {
                sb.Append(flags).Append(' ', 1 + (pad % 4));
            }

            var fractionText = fraction.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(9, '0')[..digits];
            sb.Append(seconds).Append('.').Append(fractionText).Append(": ").Append(name).Append(':').Append(' ', bodySpaces).Append(body);
            return sb.ToString();
        });

    private static readonly Gen<byte[]> Mutated =
        Gen.Select(Head, Gen.Select(Gen.Int[0, 2], Gen.Int[0, 90], Gen.Char[" []-:()0123456789.abc\t"]).Array[0, 4])
        .Select(t =>
        {
            var (head, edits) = t;
            var bytes = Encoding.UTF8.GetBytes(head).ToList();
            foreach (var (kind, at, ch) in edits)
            {
                var i = Math.Min(at, bytes.Count);
                switch (kind)
                {
                    case 0 when i < bytes.Count: bytes[i] = (byte)ch; break;
                    case 1 when i < bytes.Count: bytes.RemoveAt(i); break;
                    default: bytes.Insert(i, (byte)ch); break;
                }
            }

            return bytes.ToArray();
        });

    [Fact]
    public void The_fast_path_agrees_with_the_general_parser_on_generated_and_mutated_heads()
    {
        Mutated.Sample(line =>
        {
            var fast = TextLine.TryParse(line, out var a);
            var general = TextLine.TryParseAny(line, out var b);
            return fast == general && (!fast || a == b);
        }, seed: "0N0XIzNsQ0O2", iter: 200_000, threads: 1);
    }

    [Fact]
    public void Generated_heads_are_event_lines_and_most_take_the_fast_path()
    {
        // Guards the generator: the agreement above must be about parsed heads and the fast path, not only rejections.
        var parsed = 0;
        var fast = 0;
        Head.Sample(head =>
        {
            var bytes = Encoding.UTF8.GetBytes(head);
            parsed += TextLine.TryParse(bytes, out _) ? 1 : 0;
            fast += TextLine.TryParseCommon(bytes, out _) ? 1 : 0;
        }, seed: "0N0XIzNsQ0O2", iter: 10_000, threads: 1);
        Assert.InRange(parsed, 5_000, 10_000);
        Assert.InRange(fast, 3_000, parsed);
    }
}
