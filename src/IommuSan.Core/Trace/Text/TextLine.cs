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
    public static bool TryParse(ReadOnlySpan<byte> line, out TextLine parsed)
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
