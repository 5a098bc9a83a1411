using System.Runtime.CompilerServices;

namespace IommuSan.Trace.Text;

/// <summary>
/// Evaluates the integer constant expressions the kernel leaves in print formats after macro
/// expansion, e.g. the flag values of <c>show_gfp_flags</c>:
/// <c>( unsigned long)((( gfp_t)((((1UL))) &lt;&lt; (10))) | (( gfp_t)0))</c>.
/// Grammar handled: integer literals (decimal, hex, with U/L suffixes), parentheses, casts to
/// plain type names, unary <c>~ - !</c>, <c>* / %</c>, <c>+ -</c>, <c>&lt;&lt; &gt;&gt;</c>,
/// <c>&amp; ^ |</c>. Anything else (an identifier such as an enum name) makes it fail.
/// </summary>
internal ref struct ConstantExpression
{
    private readonly ReadOnlySpan<char> _text;
    private int _pos;

    private ConstantExpression(ReadOnlySpan<char> text)
    {
        _text = text;
        _pos = 0;
    }

    public static bool TryEvaluate(ReadOnlySpan<char> text, out ulong value)
    {
        var parser = new ConstantExpression(text);
        value = 0;
        try
        {
            if (!parser.TryOr(out value))
            {
                return false;
            }

            parser.SkipSpaces();
            return parser._pos == text.Length;
        }
        catch (InsufficientExecutionStackException)
        {
            return false;
        }
    }

    private bool TryOr(out ulong value)
    {
        if (!TryXor(out value))
        {
            return false;
        }

        while (PeekOperator("|", notFollowedBy: '|'))
        {
            _pos++;
            if (!TryXor(out var rhs))
            {
                return false;
            }

            value |= rhs;
        }

        return true;
    }

    private bool TryXor(out ulong value)
    {
        if (!TryAnd(out value))
        {
            return false;
        }

        while (PeekOperator("^", notFollowedBy: '\0'))
        {
            _pos++;
            if (!TryAnd(out var rhs))
            {
                return false;
            }

            value ^= rhs;
        }

        return true;
    }

    private bool TryAnd(out ulong value)
    {
        if (!TryShift(out value))
        {
            return false;
        }

        while (PeekOperator("&", notFollowedBy: '&'))
        {
            _pos++;
            if (!TryShift(out var rhs))
            {
                return false;
            }

            value &= rhs;
        }

        return true;
    }

    private bool TryShift(out ulong value)
    {
        if (!TryAdditive(out value))
        {
            return false;
        }

        while (true)
        {
            var left = PeekOperator("<<", notFollowedBy: '\0');
            if (!left && !PeekOperator(">>", notFollowedBy: '\0'))
            {
                return true;
            }

            _pos += 2;
            if (!TryAdditive(out var rhs))
            {
                return false;
            }

            var shift = (int)(rhs & 63);
            value = left ? value << shift : value >> shift;
        }
    }

    private bool TryAdditive(out ulong value)
    {
        if (!TryMultiplicative(out value))
        {
            return false;
        }

        while (true)
        {
            var plus = PeekOperator("+", notFollowedBy: '\0');
            if (!plus && !PeekOperator("-", notFollowedBy: '\0'))
            {
                return true;
            }

            _pos++;
            if (!TryMultiplicative(out var rhs))
            {
                return false;
            }

            value = plus ? value + rhs : value - rhs;
        }
    }

    private bool TryMultiplicative(out ulong value)
    {
        if (!TryUnary(out value))
        {
            return false;
        }

        while (true)
        {
            SkipSpaces();
            if (_pos >= _text.Length || (_text[_pos] != '*' && _text[_pos] != '/' && _text[_pos] != '%'))
            {
                return true;
            }

            var op = _text[_pos++];
            if (!TryUnary(out var rhs))
            {
                return false;
            }

            if (op != '*' && rhs == 0)
            {
                return false;
            }

            value = op switch { '*' => value * rhs, '/' => value / rhs, _ => value % rhs };
        }
    }

    private bool TryUnary(out ulong value)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        SkipSpaces();
        value = 0;
        if (_pos >= _text.Length)
        {
            return false;
        }

        var c = _text[_pos];
        if (c is '~' or '-' or '!')
        {
            _pos++;
            if (!TryUnary(out var operand))
            {
                return false;
            }

            value = c switch { '~' => ~operand, '-' => 0 - operand, _ => operand == 0 ? 1UL : 0UL };
            return true;
        }

        if (c == '(')
        {
            // A cast "( unsigned long)" or "(gfp_t)" is a parenthesised run of identifiers: skip it.
            var close = _text[_pos..].IndexOf(')');
            if (close > 0 && IsTypeName(_text.Slice(_pos + 1, close - 1)))
            {
                _pos += close + 1;
                return TryUnary(out value);
            }

            _pos++;
            if (!TryOr(out value))
            {
                return false;
            }

            SkipSpaces();
            if (_pos >= _text.Length || _text[_pos] != ')')
            {
                return false;
            }

            _pos++;
            return true;
        }

        return TryLiteral(out value);
    }

    private bool TryLiteral(out ulong value)
    {
        value = 0;
        var start = _pos;
        var isHex = _pos + 1 < _text.Length && _text[_pos] == '0' && (_text[_pos + 1] == 'x' || _text[_pos + 1] == 'X');
        if (isHex)
        {
            _pos += 2;
        }

        var digitsStart = _pos;
        while (_pos < _text.Length && (isHex ? char.IsAsciiHexDigit(_text[_pos]) : char.IsAsciiDigit(_text[_pos])))
        {
            var digit = (ulong)(isHex ? HexValue(_text[_pos]) : _text[_pos] - '0');
            value = isHex ? (value << 4) | digit : (value * 10) + digit;
            _pos++;
        }

        if (_pos == digitsStart)
        {
            _pos = start;
            return false;
        }

        while (_pos < _text.Length && (_text[_pos] is 'u' or 'U' or 'l' or 'L'))
        {
            _pos++;
        }

        return true;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private static bool IsTypeName(ReadOnlySpan<char> inside)
    {
        var trimmed = inside.Trim();
        if (trimmed.IsEmpty || !(char.IsAsciiLetter(trimmed[0]) || trimmed[0] == '_'))
        {
            return false;
        }

        foreach (var ch in trimmed)
        {
            if (!(char.IsAsciiLetterOrDigit(ch) || ch == '_' || ch == ' ' || ch == '*'))
            {
                return false;
            }
        }

        return true;
    }

    private bool PeekOperator(string op, char notFollowedBy)
    {
        SkipSpaces();
        if (!_text[_pos..].StartsWith(op, StringComparison.Ordinal))
        {
            return false;
        }

        var next = _pos + op.Length;
        return notFollowedBy == '\0' || next >= _text.Length || _text[next] != notFollowedBy;
    }

    private void SkipSpaces()
    {
        while (_pos < _text.Length && char.IsWhiteSpace(_text[_pos]))
        {
            _pos++;
        }
    }
}
