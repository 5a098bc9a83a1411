using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Text;
using IommuSan.Trace.Formats;

namespace IommuSan.Trace.Text;

/// <summary>What a conversion of a print format contributes to the payload.</summary>
internal enum ConversionTarget
{
    /// <summary>Literal text of the print format (not a conversion).</summary>
    Literal,

    /// <summary>Printed but not a field value (an address printed as a symbol, <c>iova + size</c>, a hashed pointer).</summary>
    Skip,

    /// <summary>An integer field printed as a number.</summary>
    Number,

    /// <summary>A string field (<c>__get_str(x)</c>, <c>REC->buf</c>).</summary>
    String,

    /// <summary>An integer field printed through <c>__print_symbolic</c> (<c>dir=BIDIRECTIONAL</c>).</summary>
    Symbolic,

    /// <summary>An integer field printed through <c>__print_flags</c> (<c>attrs=NO_WARN</c>, gfp flags).</summary>
    Flags,

    /// <summary>A dynamic array printed through <c>__print_array</c> (<c>{0x1,0x2}</c>).</summary>
    Array,

    /// <summary>A bool field printed as a fixed text when set (<c>REC->truncated ? " [TRUNCATED]" : ""</c>).</summary>
    OptionalText,
}

/// <summary>One piece of a compiled print format: literal text, or a conversion and where its value goes.</summary>
internal sealed record TemplatePart(
    byte[] Literal,
    ConversionTarget Target,
    int FieldIndex,
    int Radix,
    FrozenDictionary<string, ulong>? Names);

/// <summary>
/// An event's <c>print fmt:</c> compiled into literal text and conversions, each conversion tied
/// to the format field it prints. Text readers match a printed line against it to rebuild the
/// payload, so the same code reads every event whose print format the kernel describes: the event
/// layout comes from the event's own format, never from a hand-written list of field positions.
/// </summary>
internal sealed class PrintTemplate
{
    private PrintTemplate(EventFormat format, ImmutableArray<TemplatePart> parts)
    {
        Format = format;
        Parts = parts;
    }

    public EventFormat Format { get; }

    /// <summary>Literal and conversion parts in print order; adjacent literals are merged.</summary>
    public ImmutableArray<TemplatePart> Parts { get; }

    /// <summary>A template for lines whose whole body is one string field (tracefs prints a
    /// trace_marker write as <c>tracing_mark_write: TEXT</c>, the symbol standing where the event name would be).</summary>
    public static PrintTemplate WholeBody(EventFormat format, int stringField) =>
        new(format, [new TemplatePart([], ConversionTarget.String, stringField, 10, null)]);

    /// <summary>Compiles a format's print format. Never throws: what it cannot understand becomes a skipped conversion.</summary>
    public static PrintTemplate Compile(EventFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        var (text, args) = SplitPrintFormat(format.PrintFormat);
        var conversions = new List<(string Spec, char Conv)>();
        var pieces = new List<object>(); // string literal or int conversion number
        var literal = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '%')
            {
                literal.Append(text[i]);
                continue;
            }

            if (i + 1 < text.Length && text[i + 1] == '%')
            {
                literal.Append('%');
                i++;
                continue;
            }

            var start = i++;
            while (i < text.Length && "-+ #0123456789.*hlLzjtq".Contains(text[i], StringComparison.Ordinal))
            {
                i++;
            }

            if (i >= text.Length)
            {
                break;
            }

            var conv = text[i];
            if (conv == 'p' && i + 1 < text.Length && char.IsAsciiLetter(text[i + 1]))
            {
                i++; // %pS, %ps, %pK...: a kernel pointer extension, printed as a symbol or hashed
                conv = 'P';
            }

            if (literal.Length > 0)
            {
                pieces.Add(literal.ToString());
                literal.Clear();
            }

            pieces.Add(conversions.Count);
            conversions.Add((text[start..(i + 1)], conv));
        }

        if (literal.Length > 0)
        {
            pieces.Add(literal.ToString());
        }

        // Which field each argument prints, and whether a field is printed directly somewhere.
        var targets = new (ConversionTarget Target, int Field, bool Direct, FrozenDictionary<string, ulong>? Names, string? Text)[conversions.Count];
        for (var c = 0; c < conversions.Count; c++)
        {
            targets[c] = c < args.Count ? Classify(format, args[c], conversions[c].Conv) : (ConversionTarget.Skip, -1, false, null, null);
        }

        var directFields = new HashSet<int>();
        foreach (var t in targets)
        {
            if (t.Direct && t.Field >= 0)
            {
                directFields.Add(t.Field);
            }
        }

        var parts = ImmutableArray.CreateBuilder<TemplatePart>();
        foreach (var piece in pieces)
        {
            if (piece is string s)
            {
                parts.Add(new TemplatePart(Encoding.UTF8.GetBytes(s), ConversionTarget.Literal, -1, 10, null));
                continue;
            }

            var c = (int)piece;
            var t = targets[c];
            var target = t.Target;
            var field = t.Field;
            if (target == ConversionTarget.Number && !t.Direct && directFields.Contains(field))
            {
                target = ConversionTarget.Skip; // e.g. min(full_nents, 128) when full_nents is printed too
            }

            if (target == ConversionTarget.Skip)
            {
                field = -1;
            }

            var radix = conversions[c].Conv is 'x' or 'X' or 'p' ? 16 : conversions[c].Conv == 'o' ? 8 : 10;
            var literalBytes = t.Text is null ? [] : Encoding.UTF8.GetBytes(t.Text);
            parts.Add(new TemplatePart(literalBytes, target, field, radix, t.Names));
        }

        return new PrintTemplate(format, parts.ToImmutable());
    }

    // "fmt text", arg, arg  ->  (unescaped fmt text, [arg, arg])
    private static (string Text, List<string> Args) SplitPrintFormat(string printFormat)
    {
        var args = new List<string>();
        var p = printFormat.AsSpan().Trim();
        if (p.IsEmpty || p[0] != '"')
        {
            return (string.Empty, args);
        }

        var text = new StringBuilder();
        var i = 1;
        for (; i < p.Length && p[i] != '"'; i++)
        {
            if (p[i] == '\\' && i + 1 < p.Length)
            {
                i++;
                text.Append(p[i] switch { 'n' => '\n', 't' => '\t', _ => p[i] });
            }
            else
            {
                text.Append(p[i]);
            }
        }

        var rest = i + 1 < p.Length ? p[(i + 1)..].ToString() : string.Empty;
        args.AddRange(SplitTopLevel(rest.TrimStart().TrimStart(',')));
        return (text.ToString(), args);
    }

    // Splits on commas outside (), {}, [] and string literals.
    internal static List<string> SplitTopLevel(string s)
    {
        var result = new List<string>();
        var depth = 0;
        var inString = false;
        var start = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var ch = s[i];
            if (inString)
            {
                if (ch == '\\')
                {
                    i++;
                }
                else if (ch == '"')
                {
                    inString = false;
                }

                continue;
            }

            switch (ch)
            {
                case '"': inString = true; break;
                case '(' or '{' or '[': depth++; break;
                case ')' or '}' or ']': depth--; break;
                case ',' when depth == 0:
                    result.Add(s[start..i].Trim());
                    start = i + 1;
                    break;
                default: break;
            }
        }

        if (start < s.Length && s[start..].Trim().Length > 0)
        {
            result.Add(s[start..].Trim());
        }

        return result;
    }

    private static (ConversionTarget, int, bool, FrozenDictionary<string, ulong>?, string?) Classify(EventFormat format, string arg, char conv)
    {
        const ConversionTarget skip = ConversionTarget.Skip;
        if (TryCall(arg, "__print_flags", out var flagArgs) && flagArgs.Count >= 2)
        {
            var field = SingleField(format, flagArgs[0]);
            return field < 0 ? (skip, -1, false, null, null) : (ConversionTarget.Flags, field, true, SymbolTable(flagArgs.Skip(2)), null);
        }

        if (TryCall(arg, "__print_symbolic", out var symArgs) && symArgs.Count >= 1)
        {
            var field = SingleField(format, symArgs[0]);
            return field < 0 ? (skip, -1, false, null, null) : (ConversionTarget.Symbolic, field, true, SymbolTable(symArgs.Skip(1)), null);
        }

        if (TryCall(arg, "__print_array", out var arrayArgs) && arrayArgs.Count >= 1
            && TryCall(arrayArgs[0], "__get_dynamic_array", out var dyn) && dyn.Count == 1)
        {
            var field = format.IndexOf(dyn[0].Trim());
            return field < 0 ? (skip, -1, false, null, null) : (ConversionTarget.Array, field, true, null, null);
        }

        if (TryCall(arg, "__get_str", out var strArgs) && strArgs.Count == 1 && conv == 's')
        {
            var field = format.IndexOf(strArgs[0].Trim());
            return field < 0 ? (skip, -1, false, null, null) : (ConversionTarget.String, field, true, null, null);
        }

        var bare = StripCasts(arg);
        if (bare.StartsWith("REC->", StringComparison.Ordinal) && IsIdentifier(bare.AsSpan(5)))
        {
            var field = format.IndexOf(bare[5..]);
            if (field < 0)
            {
                return (skip, -1, false, null, null);
            }

            if (conv == 's' && format.Fields[field].IsString)
            {
                return (ConversionTarget.String, field, true, null, null);
            }

            // %pS/%ps print a symbol; %s of a non-string cannot be read back.
            return conv is 'P' or 's' ? (skip, field, true, null, null) : (ConversionTarget.Number, field, true, null, null);
        }

        // REC->truncated ? " [TRUNCATED]" : ""
        var question = arg.IndexOf('?', StringComparison.Ordinal);
        if (conv == 's' && question > 0)
        {
            // Only a bare field as the condition: "(1 && (REC->gfp_flags & X)) ? ..." is derived, not the field.
            var condition = StripCasts(arg[..question]);
            var cond = condition.StartsWith("REC->", StringComparison.Ordinal) && IsIdentifier(condition.AsSpan(5)) ? format.IndexOf(condition[5..]) : -1;
            var quote = arg.IndexOf('"', question);
            var endQuote = quote < 0 ? -1 : arg.IndexOf('"', quote + 1);
            var otherwise = endQuote < 0 ? string.Empty : arg[(endQuote + 1)..].Trim();
            if (cond >= 0 && endQuote > quote + 1 && otherwise.StartsWith(':'))
            {
                var whenSet = arg[(quote + 1)..endQuote];
                var whenClear = otherwise[1..].Trim();
                if (whenClear == "\"\"")
                {
                    return (ConversionTarget.OptionalText, cond, true, null, whenSet);
                }

                // REC->accounted ? "true" : "false"
                if (whenClear.Length >= 2 && whenClear[0] == '"' && whenClear[^1] == '"')
                {
                    var names = new Dictionary<string, ulong>(StringComparer.Ordinal) { [whenSet] = 1 };
                    names.TryAdd(whenClear[1..^1], 0);
                    return (ConversionTarget.Symbolic, cond, true, names.ToFrozenDictionary(StringComparer.Ordinal), null);
                }
            }
        }

        // An expression of one field (pfn != -1UL ? pfn : 0, min(x, 128)): its value when nothing prints the field directly.
        // Pointers (%p) computed from fields are addresses the reader cannot map back.
        if (conv is 'd' or 'i' or 'u' or 'x' or 'X' or 'o')
        {
            var field = SingleField(format, arg);
            if (field >= 0)
            {
                return (ConversionTarget.Number, field, false, null, null);
            }
        }

        return (skip, -1, false, null, null);
    }

    // Index of the only field the expression reads through REC->, or -1.
    private static int SingleField(EventFormat format, string expression)
    {
        var found = -1;
        var at = 0;
        while ((at = expression.IndexOf("REC->", at, StringComparison.Ordinal)) >= 0)
        {
            at += 5;
            var end = at;
            while (end < expression.Length && (char.IsAsciiLetterOrDigit(expression[end]) || expression[end] == '_'))
            {
                end++;
            }

            var index = format.IndexOf(expression[at..end]);
            if (index < 0 || (found >= 0 && found != index))
            {
                return -1;
            }

            found = index;
        }

        return found;
    }

    private static bool TryCall(string arg, string function, out List<string> args)
    {
        args = [];
        var at = arg.IndexOf(function + "(", StringComparison.Ordinal);
        if (at < 0)
        {
            return false;
        }

        var open = at + function.Length;
        var depth = 0;
        var inString = false;
        for (var i = open; i < arg.Length; i++)
        {
            var ch = arg[i];
            if (inString)
            {
                if (ch == '\\')
                {
                    i++;
                }
                else if (ch == '"')
                {
                    inString = false;
                }

                continue;
            }

            if (ch == '"')
            {
                inString = true;
            }
            else if (ch == '(')
            {
                depth++;
            }
            else if (ch == ')' && --depth == 0)
            {
                args = SplitTopLevel(arg[(open + 1)..i]);
                return true;
            }
        }

        return false;
    }

    // { value, "NAME" } entries of __print_flags / __print_symbolic.
    private static FrozenDictionary<string, ulong> SymbolTable(IEnumerable<string> entries)
    {
        var table = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            var e = entry.Trim();
            if (e.Length < 2 || e[0] != '{' || e[^1] != '}')
            {
                continue;
            }

            var pair = SplitTopLevel(e[1..^1]);
            if (pair.Count != 2 || pair[1].Length < 2 || pair[1][0] != '"' || pair[1][^1] != '"')
            {
                continue;
            }

            if (ConstantExpression.TryEvaluate(pair[0], out var value))
            {
                table.TryAdd(pair[1][1..^1], value);
            }
        }

        return table.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string StripCasts(string arg)
    {
        var s = arg.Trim();
        while (s.StartsWith('('))
        {
            var close = s.IndexOf(')', StringComparison.Ordinal);
            if (close < 0)
            {
                break;
            }

            var inside = s[1..close];
            if (inside.Contains("REC->", StringComparison.Ordinal))
            {
                // "(REC->x)": parentheses around the value itself
                if (close == s.Length - 1)
                {
                    s = inside.Trim();
                    continue;
                }

                break;
            }

            s = s[(close + 1)..].Trim();
        }

        return s;
    }

    private static bool IsIdentifier(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty)
        {
            return false;
        }

        foreach (var ch in s)
        {
            if (!(char.IsAsciiLetterOrDigit(ch) || ch == '_'))
            {
                return false;
            }
        }

        return true;
    }
}
