namespace IommuSan.Trace.Text;

/// <summary>Numbers and timestamps parsed straight from UTF-8 bytes (no strings, no double, culture-free).</summary>
internal static class TextNumbers
{
    private const long NanosecondsPerSecond = 1_000_000_000;

    /// <summary>
    /// Parses an integer as the kernel prints it: optional sign, "0x" prefix means hex whatever
    /// the conversion said, otherwise <paramref name="radix"/> (10 or 16, 8 for %o). Negative
    /// values come back two's-complement (the payload writer truncates to the field size).
    /// </summary>
    public static bool TryParseInteger(ReadOnlySpan<byte> text, int radix, out ulong value)
    {
        value = 0;
        var s = text.Trim((byte)' ');
        if (s.IsEmpty)
        {
            return false;
        }

        var negative = false;
        if (s[0] is (byte)'-' or (byte)'+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s.Length > 2 && s[0] == '0' && (s[1] | 0x20) == 'x')
        {
            radix = 16;
            s = s[2..];
        }

        if (s.IsEmpty)
        {
            return false;
        }

        // Up to 15 hex or 19 decimal digits cannot overflow 64 bits: no per-digit overflow check
        // (a 64-bit division per digit was the reader's largest cost).
        var safeDigits = radix == 16 ? 15 : 18;
        ulong v = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var b = s[i];
            int digit;
            if (b is >= (byte)'0' and <= (byte)'9')
            {
                digit = b - '0';
            }
            else if ((b | 0x20) is >= 'a' and <= 'f')
            {
                digit = (b | 0x20) - 'a' + 10;
            }
            else
            {
                return false;
            }

            if (digit >= radix)
            {
                return false;
            }

            if (i >= safeDigits && v > (ulong.MaxValue - (ulong)digit) / (ulong)radix)
            {
                return false; // more than 64 bits
            }

            v = (v * (ulong)radix) + (ulong)digit;
        }

        value = negative ? 0 - v : v;
        return true;
    }

    /// <summary>A plain non-negative decimal int (pids, CPU numbers, counts).</summary>
    public static bool TryParseDecimal(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 18)
        {
            return false;
        }

        foreach (var b in text)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (b - '0');
        }

        return true;
    }

    /// <summary>
    /// "13.123832" (seconds.micro), "13.781958220" (seconds.nano from trace-cmd -t) or a raw
    /// counter "123456789" (counter clocks) to integer nanoseconds; extra fraction digits beyond
    /// 9 are dropped.
    /// </summary>
    public static bool TryParseTimestamp(ReadOnlySpan<byte> text, out long ns)
    {
        // One pass: seconds digits, then (after a '.') fraction digits.
        ns = 0;
        long whole = 0;
        var i = 0;
        for (; i < text.Length; i++)
        {
            var digit = text[i] - (uint)'0';
            if (digit > 9)
            {
                break;
            }

            whole = (whole * 10) + digit;
        }

        if (i == 0 || i > 18)
        {
            return false;
        }

        if (i == text.Length)
        {
            ns = whole;
            return true;
        }

        if (text[i] != '.' || i + 1 == text.Length || whole > long.MaxValue / NanosecondsPerSecond - 1)
        {
            return false;
        }

        long sub = 0;
        var digits = 0;
        for (i++; i < text.Length; i++)
        {
            var digit = text[i] - (uint)'0';
            if (digit > 9)
            {
                return false;
            }

            if (digits < 9)
            {
                sub = (sub * 10) + digit;
                digits++;
            }
        }

        for (; digits < 9; digits++)
        {
            sub *= 10;
        }

        ns = (whole * NanosecondsPerSecond) + sub;
        return true;
    }
}
