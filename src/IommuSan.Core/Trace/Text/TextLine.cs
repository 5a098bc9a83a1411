using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace IommuSan.Trace.Text;

/// <summary>
/// The common head of an event line, as offsets into the line. All three text forms share it:
/// <code>
/// tracefs:    "  comm with-dash-123 (  120) [001] d.h1.    13.123832: map: IOMMU: ..."
/// trace-cmd:  "          sh-450   [001]    13.112344: kmalloc:     (alloc_bprm+0x46) call_site=..."
/// perf:       "            ping   490 [001]    13.781958: kprobes:iommu_map: (ffff...) domain=..."
/// </code>
/// The comm is everything before "-PID" (or " PID" in perf), so it may hold spaces and dashes;
/// the optional tgid column and the optional irq-info/flags column are skipped.
/// </summary>
internal readonly record struct TextLine(
    int CommStart,
    int CommLength,
    int Pid,
    int Cpu,
    long TimeNs,
    int SystemStart,
    int SystemLength,
    int NameStart,
    int NameLength,
    int BodyStart,
    bool PidAfterSpace)
{
    private const int MaxCpu = 1 << 16;

    /// <summary>Parses the head of an event line; false when the line is not an event line.</summary>
    public static bool TryParse(ReadOnlySpan<byte> line, out TextLine parsed) =>
        TryParseCommon(line, out parsed) || TryParseAny(line, out parsed);

    /// <summary>
    /// The common case in a few vector compares: a head within the first 64 bytes, "comm-pid [cpu]"
    /// without a tgid column, the event name within the next 32 bytes. Bit masks of spaces, brackets
    /// and digits locate every column without a byte loop (the loops' mispredicted exits were most of
    /// the head's cost). Whenever a rule would need a judgement, it returns false and
    /// <see cref="TryParseAny"/> decides, so both always agree.
    /// </summary>
    internal static bool TryParseCommon(ReadOnlySpan<byte> line, out TextLine parsed)
    {
        parsed = default;
        if (line.Length < 64 || !Vector256.IsHardwareAccelerated)
        {
            return false;
        }

        ref var start = ref MemoryMarshal.GetReference(line);
        var low = Vector256.LoadUnsafe(ref start);
        var high = Vector256.LoadUnsafe(ref start, 32);
        var space = Mask(low, high, (byte)' ');
        var opens = Mask(low, high, (byte)'[');
        var closes = Mask(low, high, (byte)']');
        var ten = Vector256.Create((byte)10);
        var zero = Vector256.Create((byte)'0');
        var digits = Vector256.LessThan(low - zero, ten).ExtractMostSignificantBits()
            | ((ulong)Vector256.LessThan(high - zero, ten).ExtractMostSignificantBits() << 32);

        // The first '[' must follow a space and hold 1-5 digits then ']'.
        var open = BitOperations.TrailingZeroCount(opens);
        if (opens == 0 || open == 0 || open > 60 || ((space >> (open - 1)) & 1) == 0 || (closes >> (open + 1)) == 0)
        {
            return false;
        }

        var close = open + 1 + BitOperations.TrailingZeroCount(closes >> (open + 1));
        var cpuDigits = close - open - 1;
        var cpuMask = (1UL << cpuDigits) - 1;
        if (cpuDigits is < 1 or > 5 || ((digits >> (open + 1)) & cpuMask) != cpuMask)
        {
            return false;
        }

        var cpu = 0;
        for (var i = open + 1; i < close; i++)
        {
            cpu = (cpu * 10) + (line[i] - '0');
        }

        if (cpu >= MaxCpu)
        {
            return false;
        }

        // Left of the CPU: "comm-pid" or "comm pid" (a tgid column goes the general way).
        var belowOpen = ~space & ((1UL << open) - 1);
        if (belowOpen == 0)
        {
            return false;
        }

        var pidEnd = 64 - BitOperations.LeadingZeroCount(belowOpen);
        var nonDigits = ~digits & ((1UL << pidEnd) - 1);
        var pidStart = nonDigits == 0 ? 0 : 64 - BitOperations.LeadingZeroCount(nonDigits);
        if (pidStart == 0 || pidStart == pidEnd || pidEnd - pidStart > 10 || line[pidEnd - 1] == ')')
        {
            return false;
        }

        long pid = 0;
        for (var i = pidStart; i < pidEnd; i++)
        {
            pid = (pid * 10) + (line[i] - '0');
        }

        var separator = line[pidStart - 1];
        if (pid > int.MaxValue || separator is not ((byte)'-' or (byte)' '))
        {
            return false;
        }

        var commEnd = pidStart - 1;
        if (separator == ' ')
        {
            var belowComm = ~space & ((1UL << commEnd) - 1);
            commEnd = belowComm == 0 ? 0 : 64 - BitOperations.LeadingZeroCount(belowComm); // perf pads the tid column on the left
        }

        var commStart = Math.Min(BitOperations.TrailingZeroCount(~space), commEnd);

        // Right of the CPU: an optional flags token, then "TIMESTAMP:".
        var pos = close + 1;
        long timeNs = 0;
        var haveTime = false;
        for (var token = 0; token < 2 && !haveTime; token++)
        {
            var words = pos < 64 ? ~space & (~0UL << pos) : 0;
            if (words == 0)
            {
                return false;
            }

            var tokenStart = BitOperations.TrailingZeroCount(words);
            var ends = space & (~0UL << tokenStart);
            if (ends == 0)
            {
                return false;
            }

            pos = BitOperations.TrailingZeroCount(ends);
            var tokenText = line[tokenStart..pos];
            haveTime = tokenText.Length > 1 && tokenText[^1] == ':' && TextNumbers.TryParseTimestamp(tokenText[..^1], out timeNs);
        }

        if (!haveTime)
        {
            return false;
        }

        // "event:" or "system:event:" then the body, all from one more 32-byte load.
        var nameStart = pos + 1;
        if (line[pos + 1] == ' ' || nameStart + 32 > line.Length)
        {
            return false;
        }

        var name = Vector256.LoadUnsafe(ref start, (nuint)nameStart);
        var nameSpaces = Vector256.Equals(name, Vector256.Create((byte)' ')).ExtractMostSignificantBits();
        var colons = Vector256.Equals(name, Vector256.Create((byte)':')).ExtractMostSignificantBits();
        var firstSpace = BitOperations.TrailingZeroCount(nameSpaces);
        if (nameSpaces == 0 || firstSpace < 2 || ((colons >> (firstSpace - 1)) & 1) == 0)
        {
            return false;
        }

        var nameEnd = nameStart + firstSpace - 1;
        var systemStart = nameStart;
        var systemLength = 0;
        var innerColon = BitOperations.TrailingZeroCount(colons);
        if (innerColon < firstSpace - 1)
        {
            systemLength = innerColon;
            nameStart += innerColon + 1;
        }

        var bodyStart = nameEnd + 1;
        while (bodyStart < line.Length && line[bodyStart] == ' ')
        {
            bodyStart++;
        }

        parsed = new TextLine(commStart, commEnd - commStart, (int)pid, cpu, timeNs, systemStart, systemLength,
            nameStart, nameEnd - nameStart, bodyStart, separator == ' ');
        return true;
    }

    private static ulong Mask(Vector256<byte> low, Vector256<byte> high, byte value) =>
        Vector256.Equals(low, Vector256.Create(value)).ExtractMostSignificantBits()
        | ((ulong)Vector256.Equals(high, Vector256.Create(value)).ExtractMostSignificantBits() << 32);

    /// <summary>Any head the three text forms print (see the type's summary); the reference for <see cref="TryParseCommon"/>.</summary>
    internal static bool TryParseAny(ReadOnlySpan<byte> line, out TextLine parsed)
    {
        parsed = default;

        // " [CPU] ": the first '[' after a space that holds only digits.
        var cpuOpen = -1;
        var cpuClose = -1;
        long cpu = 0;
        var from = 0;
        while (true)
        {
            var rel = line[from..].IndexOf(" ["u8);
            if (rel < 0)
            {
                return false;
            }

            var open = from + rel + 1;

            // Digits then ']' (the same as "everything up to the first ']' is a decimal number").
            var digitEnd = open + 1;
            cpu = 0;
            while (digitEnd < line.Length && line[digitEnd] - (uint)'0' <= 9 && cpu < MaxCpu)
            {
                cpu = (cpu * 10) + (line[digitEnd] - '0');
                digitEnd++;
            }

            if (digitEnd > open + 1 && digitEnd < line.Length && line[digitEnd] == ']' && cpu < MaxCpu)
            {
                cpuOpen = open;
                cpuClose = digitEnd;
                break;
            }

            from = open;
        }

        // Left of the CPU: "comm-pid", "comm-pid (tgid)" or "comm pid".
        var left = line[..cpuOpen].TrimEnd((byte)' ');
        if (left.Length > 0 && left[^1] == ')')
        {
            var paren = left.LastIndexOf((byte)'(');
            if (paren < 0)
            {
                return false;
            }

            left = left[..paren].TrimEnd((byte)' ');
        }

        var pidStart = left.Length;
        while (pidStart > 0 && left[pidStart - 1] is >= (byte)'0' and <= (byte)'9')
        {
            pidStart--;
        }

        if (pidStart == left.Length || pidStart == 0 || !TextNumbers.TryParseDecimal(left[pidStart..], out var pid) || pid > int.MaxValue)
        {
            return false;
        }

        var separator = left[pidStart - 1];
        if (separator is not ((byte)'-' or (byte)' '))
        {
            return false;
        }

        var commEnd = pidStart - 1;
        while (separator == ' ' && commEnd > 0 && line[commEnd - 1] == ' ')
        {
            commEnd--; // perf pads the tid column on the left
        }

        var commStart = line[..commEnd].IndexOfAnyExcept((byte)' ');
        if (commStart < 0)
        {
            commStart = commEnd;
        }

        // Right of the CPU: optional flags column, then "TIMESTAMP:".
        var pos = cpuClose + 1;
        long timeNs = 0;
        var haveTime = false;
        for (var token = 0; token < 2 && !haveTime; token++)
        {
            while (pos < line.Length && line[pos] == ' ')
            {
                pos++;
            }

            var tokenEnd = pos;
            while (tokenEnd < line.Length && line[tokenEnd] != ' ')
            {
                tokenEnd++; // short tokens (flags, timestamp): a loop beats a vector search's setup
            }

            var tokenText = line[pos..tokenEnd];
            if (tokenText.Length > 1 && tokenText[^1] == ':' && TextNumbers.TryParseTimestamp(tokenText[..^1], out timeNs))
            {
                haveTime = true;
            }

            pos = tokenEnd;
        }

        if (!haveTime)
        {
            return false;
        }

        // "event:" or "system:event:" up to the ':' that ends the token.
        while (pos < line.Length && line[pos] == ' ')
        {
            pos++;
        }

        var nameStart = pos;
        var nameEnd = -1;
        for (var i = pos; i < line.Length;)
        {
            var stop = line[i..].IndexOfAny((byte)' ', (byte)':');
            if (stop < 0 || line[i + stop] == ' ')
            {
                break;
            }

            i += stop;
            if (i + 1 == line.Length || line[i + 1] == ' ')
            {
                nameEnd = i;
                break;
            }

            i++;
        }

        if (nameEnd <= nameStart)
        {
            return false;
        }

        var systemStart = nameStart;
        var systemLength = 0;
        var innerColon = line[nameStart..nameEnd].IndexOf((byte)':');
        if (innerColon >= 0)
        {
            systemLength = innerColon;
            nameStart += innerColon + 1;
        }

        var bodyStart = nameEnd + 1;
        while (bodyStart < line.Length && line[bodyStart] == ' ')
        {
            bodyStart++;
        }

        parsed = new TextLine(commStart, commEnd - commStart, (int)pid, (int)cpu, timeNs, systemStart, systemLength,
            nameStart, nameEnd - nameStart, bodyStart, separator == ' ');
        return true;
    }
}
