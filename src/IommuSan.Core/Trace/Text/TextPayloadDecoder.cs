using System.Buffers;
using System.Text;
using IommuSan.Trace.Records;

namespace IommuSan.Trace.Text;

/// <summary>
/// Rebuilds an event payload from its printed fields by matching the text against the event's
/// compiled <see cref="PrintTemplate"/>. Tolerates what real text traces do differently from
/// the print format: hex printed without "0x" where an old kernel printed decimal, trace-cmd's
/// plugin prefix <c>(symbol+off)</c>, unknown flag names (counted as 0), pointers that mean nothing.
/// One instance per event type; not thread-safe; allocation-free per event once warmed up.
/// </summary>
internal sealed class TextPayloadDecoder
{
    private const int MaxArrayElements = 1 << 16;

    private static readonly byte[] _none = "none"u8.ToArray();

    private const byte NotADigit = 0xff;

    // Bytes a printed number can hold (sign, "0x", hex digits).
    private static readonly SearchValues<byte> _numberBytes = SearchValues.Create("0123456789abcdefABCDEFxX+-"u8);

    private readonly PrintTemplate _template;
    private readonly PayloadBuilder _builder;
    // Per symbolic/flags part, the last few texts and their values: a trace repeats a handful of gfp
    // flag combinations, interleaved, so one remembered text would miss on every change.
    private const int MaxRememberedText = 128;
    private const int RememberedTexts = 8;

    private readonly byte[][] _nameText;
    private readonly int[][] _nameLength;
    private readonly ulong[][] _nameValue;
    private readonly int[] _nameNext;
    private readonly bool[] _numberEndsValue;

    // Per part: where its scalar field goes (resolved once, not looked up per line).
    private readonly ScalarSlot[] _slots;
    private ulong[] _elements = new ulong[16];
    private byte[] _stringScratch = new byte[64];

    // Value of each byte as a hex digit, NotADigit for anything else: one load per digit instead of range tests.
    private static ReadOnlySpan<byte> DigitValues =>
    [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 10, 11, 12, 13, 14, 15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 10, 11, 12, 13, 14, 15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];

    public TextPayloadDecoder(PrintTemplate template)
    {
        _template = template;
        _builder = new PayloadBuilder(template.Format);
        _nameText = new byte[template.Parts.Length][];
        _nameLength = new int[template.Parts.Length][];
        _nameValue = new ulong[template.Parts.Length][];
        _nameNext = new int[template.Parts.Length];
        _numberEndsValue = new bool[template.Parts.Length];
        _slots = new ScalarSlot[template.Parts.Length];
        for (var i = 0; i < template.Parts.Length; i++)
        {
            _slots[i] = _builder.SlotOf(template.Parts[i].FieldIndex);
            _numberEndsValue[i] = NumberEndsValue(template.Parts, i);
            var named = template.Parts[i].Target is ConversionTarget.Symbolic or ConversionTarget.Flags;
            _nameText[i] = named ? new byte[RememberedTexts * MaxRememberedText] : [];
            _nameLength[i] = named ? [-1, -1, -1, -1, -1, -1, -1, -1] : [];
            _nameValue[i] = named ? new ulong[RememberedTexts] : [];
        }
    }

    public PrintTemplate Template => _template;

    /// <summary>Builds the payload for <paramref name="body"/>; false when the text does not fit the template.</summary>
    public bool TryDecode(ReadOnlySpan<byte> body, int pid, out ReadOnlyMemory<byte> payload)
    {
        payload = default;
        _builder.Reset(pid);
        var parts = _template.Parts;
        var pos = 0;
        var decimalNext = false;
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            var rest = body[pos..];
            if (part.Target == ConversionTarget.Literal)
            {
                var literal = part.Literal.AsSpan();
                if (rest.StartsWith(literal))
                {
                    pos += literal.Length;
                    continue;
                }

                // Old kernels printed pfn=%lu where new ones print pfn=0x%lx.
                if (literal.EndsWith("0x"u8) && rest.StartsWith(literal[..^2]))
                {
                    pos += literal.Length - 2;
                    decimalNext = true;
                    continue;
                }

                // trace-cmd's kmem plugin prints "(symbol+off) " before the event's own text.
                if (i == 0 && rest.Length > 0 && rest[0] == '(')
                {
                    var close = rest.IndexOf(") "u8);
                    if (close > 0 && rest[(close + 2)..].StartsWith(literal))
                    {
                        pos += close + 2 + literal.Length;
                        continue;
                    }
                }

                // A print format ending in spaces against a line whose trailing spaces were trimmed.
                if (i == parts.Length - 1 && literal.Trim((byte)' ').SequenceEqual(rest.Trim((byte)' ')))
                {
                    pos = body.Length;
                    continue;
                }

                return false;
            }

            int length;
            switch (part.Target)
            {
                case ConversionTarget.Array:
                    if (rest.IsEmpty || rest[0] != '{')
                    {
                        return false;
                    }

                    length = rest.IndexOf((byte)'}') + 1;
                    if (length <= 0 || !SetArray(part.FieldIndex, rest[1..(length - 1)]))
                    {
                        return false;
                    }

                    break;
                case ConversionTarget.OptionalText:
                    var isSet = part.Literal.Length > 0 && rest.StartsWith(part.Literal);
                    _builder.SetScalar(_slots[i], isSet ? 1UL : 0UL);
                    length = isSet ? part.Literal.Length : 0;
                    break;
                default:
                    if (_numberEndsValue[i] && TryNumberBeforeLiteral(rest, i, part, i + 1 < parts.Length ? parts[i + 1].Literal : null, decimalNext, out var consumed))
                    {
                        // The number and the literal after it (if any), in one step.
                        pos += consumed;
                        i++;
                        decimalNext = false;
                        continue;
                    }

                    length = ValueLength(rest, parts, i);

                    if (length < 0 || !SetValue(part, i, rest[..length], decimalNext))
                    {
                        return false;
                    }

                    break;
            }

            decimalNext = false;
            pos += length;
        }

        payload = _builder.AsMemory();
        return true;
    }

    // A number printed before a literal that cannot start inside a number (" pfn=0x", " order="):
    // the number's own bytes end the value, so the literal is checked in place instead of searched
    // for. That is the same end the search would find, as no earlier match can start inside the number.
    private static bool NumberEndsValue(System.Collections.Immutable.ImmutableArray<TemplatePart> parts, int i)
    {
        var part = parts[i];
        if (!(part.Target == ConversionTarget.Number || (part.Target == ConversionTarget.Skip && part.Radix == 16)))
        {
            return false;
        }

        if (i + 1 >= parts.Length)
        {
            return true; // the last value must run to the end of the line
        }

        var next = parts[i + 1];
        return next.Target == ConversionTarget.Literal && next.Literal.Length > 0 && !_numberBytes.Contains(next.Literal[0]);
    }

    // Parses the number at the start of rest and checks the literal after it (or the end of the line), as ValueLength then
    // SetValue would, in one pass over the bytes. Anything unusual (a sign, a digit beyond the radix,
    // more digits than fit without an overflow check, no literal right after) returns false
    // without side effects, and the general path decides.
    private bool TryNumberBeforeLiteral(ReadOnlySpan<byte> rest, int partIndex, TemplatePart part, byte[]? literal, bool decimalOnly, out int consumed)
    {
        consumed = 0;
        var radix = decimalOnly ? 10u : (uint)part.Radix;
        var i = 0;
        if (rest.Length > 2 && rest[0] == '0' && (rest[1] | 0x20) == 'x')
        {
            radix = 16;
            i = 2;
        }

        // As many digits as cannot overflow 64 bits (16 hex: a %016llx iova or a %p page); a value
        // skipped rather than stored has no limit.
        var start = i;
        var maxDigits = part.Target == ConversionTarget.Skip ? int.MaxValue - start : radix == 16 ? 16 : radix == 10 ? 19 : 21;
        var maxEnd = (int)Math.Min(rest.Length, (long)start + maxDigits);
        ulong value = 0;
        for (; i < maxEnd; i++)
        {
            uint digit = DigitValues[rest[i]];
            if (digit >= radix)
            {
                if (digit == NotADigit)
                {
                    break;
                }

                return false;
            }

            value = (value * radix) + digit;
        }

        if (i == start || (literal is null ? i != rest.Length : (i == maxEnd && i < rest.Length && _numberBytes.Contains(rest[i])) || !rest[i..].StartsWith(literal)))
        {
            return false;
        }

        if (part.Target == ConversionTarget.Number)
        {
            _builder.SetScalar(_slots[partIndex], value);
        }

        consumed = i + (literal?.Length ?? 0);
        return true;
    }

    // A value runs up to the next literal of the template (or to the end of the line).
    private static int ValueLength(ReadOnlySpan<byte> rest, System.Collections.Immutable.ImmutableArray<TemplatePart> parts, int i)
    {
        if (i + 1 >= parts.Length)
        {
            return rest.Length;
        }

        var next = parts[i + 1];
        if (next.Target != ConversionTarget.Literal)
        {
            return next.Target == ConversionTarget.OptionalText ? IndexOfOrEnd(rest, next.Literal, parts, i + 1) : -1;
        }

        var at = rest.IndexOf(next.Literal);
        if (at < 0 && next.Literal.AsSpan().EndsWith("0x"u8))
        {
            at = rest.IndexOf(next.Literal.AsSpan()[..^2]);
        }

        return at;
    }

    // Before an optional text (" [TRUNCATED]") the value ends where that text or the literal after it starts.
    private static int IndexOfOrEnd(ReadOnlySpan<byte> rest, byte[] optional, System.Collections.Immutable.ImmutableArray<TemplatePart> parts, int optionalIndex)
    {
        var at = optional.Length > 0 ? rest.IndexOf(optional) : -1;
        if (optionalIndex + 1 < parts.Length && parts[optionalIndex + 1].Target == ConversionTarget.Literal)
        {
            var after = rest.IndexOf(parts[optionalIndex + 1].Literal);
            if (after >= 0 && (at < 0 || after < at))
            {
                at = after;
            }
        }

        return at < 0 ? rest.Length : at;
    }

    private bool SetValue(TemplatePart part, int partIndex, ReadOnlySpan<byte> value, bool decimalOnly)
    {
        switch (part.Target)
        {
            case ConversionTarget.Skip:
                return true;
            case ConversionTarget.Number:
                if (TextNumbers.TryParseInteger(value, decimalOnly ? 10 : part.Radix, out var number))
                {
                    _builder.SetScalar(_slots[partIndex], number);
                    return true;
                }

                // Kprobe locations print as "(func+0x4/0x90)" in tracefs text, a raw address in
                // trace-cmd: the symbolic form carries no number. "(null)"/"(nil)" pointers are 0.
                return _template.Format.Fields[part.FieldIndex].Name.StartsWith("__probe_", StringComparison.Ordinal)
                    || value.StartsWith("(n"u8);
            case ConversionTarget.String:
                return SetString(part.FieldIndex, value);
            case ConversionTarget.Symbolic:
            case ConversionTarget.Flags:
                // The same few texts repeat ("GFP_KERNEL_ACCOUNT|__GFP_ZERO", "TO_DEVICE"): remember the last one.
                _builder.SetScalar(_slots[partIndex], NamedValue(part, partIndex, value));
                return true;
            default:
                return false;
        }
    }

    private ulong NamedValue(TemplatePart part, int partIndex, ReadOnlySpan<byte> value)
    {
        var texts = _nameText[partIndex];
        var lengths = _nameLength[partIndex];
        var values = _nameValue[partIndex];
        for (var k = 0; k < lengths.Length; k++)
        {
            if (lengths[k] == value.Length && value.SequenceEqual(texts.AsSpan(k * MaxRememberedText, value.Length)))
            {
                return values[k];
            }
        }

        var parsed = part.Target == ConversionTarget.Flags ? ParseFlags(part, value) : ParseSymbol(part, value);
        if (value.Length <= MaxRememberedText)
        {
            var slot = _nameNext[partIndex];
            _nameNext[partIndex] = (slot + 1) % RememberedTexts;
            value.CopyTo(texts.AsSpan(slot * MaxRememberedText));
            lengths[slot] = value.Length;
            values[slot] = parsed;
        }

        return parsed;
    }

    // Symbolic value: a known name, else the number the kernel prints for values missing from the table, else 0.
    private static ulong ParseSymbol(TemplatePart part, ReadOnlySpan<byte> name)
    {
        if (part.Names is { } names && TryGetName(names, name, out var value))
        {
            return value;
        }

        return TextNumbers.TryParseInteger(name, 16, out value) ? value : 0;
    }

    // "GFP_KERNEL_ACCOUNT|__GFP_ZERO" -> OR of known names; "none" and "" -> 0; unknown names count 0, numbers as numbers.
    private static ulong ParseFlags(TemplatePart part, ReadOnlySpan<byte> text)
    {
        ulong value = 0;
        if (text.IsEmpty || text.SequenceEqual(_none))
        {
            return 0;
        }

        foreach (var range in text.Split((byte)'|'))
        {
            var name = text[range].Trim((byte)' ');
            if (part.Names is { } names && TryGetName(names, name, out var bits))
            {
                value |= bits;
            }
            else if (TextNumbers.TryParseInteger(name, 16, out bits))
            {
                value |= bits;
            }
        }

        return value;
    }

    private static bool TryGetName(System.Collections.Frozen.FrozenDictionary<string, ulong> names, ReadOnlySpan<byte> name, out ulong value)
    {
        value = 0;
        if (name.Length > 128)
        {
            return false;
        }

        Span<char> chars = stackalloc char[name.Length];
        var n = Encoding.UTF8.GetChars(name, chars);
        return names.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(chars[..n], out value);
    }

    private bool SetString(int fieldIndex, ReadOnlySpan<byte> value)
    {
        if (!_builder.Fits(fieldIndex, value.Length + 1))
        {
            return false;
        }

        if (value.Length + 1 > _stringScratch.Length)
        {
            _stringScratch = new byte[Math.Max(value.Length + 1, _stringScratch.Length * 2)];
        }

        value.CopyTo(_stringScratch);
        _stringScratch[value.Length] = 0; // the kernel stores strings NUL-terminated
        _builder.SetBytes(fieldIndex, _stringScratch.AsSpan(0, value.Length + 1));
        return true;
    }

    // "0x2bf1000,0xf400000" (the inside of {...}); empty means no elements.
    private bool SetArray(int fieldIndex, ReadOnlySpan<byte> inside)
    {
        var count = 0;
        if (!inside.Trim((byte)' ').IsEmpty)
        {
            foreach (var range in inside.Split((byte)','))
            {
                if (count >= MaxArrayElements || !TextNumbers.TryParseInteger(inside[range], 16, out var element))
                {
                    return false;
                }

                if (count == _elements.Length)
                {
                    Array.Resize(ref _elements, _elements.Length * 2);
                }

                _elements[count++] = element;
            }
        }

        if (!_builder.Fits(fieldIndex, count * _template.Format.Fields[fieldIndex].ElementSize))
        {
            return false;
        }

        _builder.SetArray(fieldIndex, _elements.AsSpan(0, count));
        return true;
    }
}
