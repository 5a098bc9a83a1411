namespace IommuSan.Model.Sanitizer;

/// <summary>The <c>iommu.debug_pagealloc=</c> boot parameter as the kernel reads it from its command line.</summary>
internal readonly record struct DebugPageallocParam(bool Present, bool Enabled, bool Malformed)
{
    public const string Name = "iommu.debug_pagealloc";

    /// <summary>
    /// Parses a kernel command line: whitespace-separated parameters, double quotes protecting
    /// spaces, everything after a bare "--" belonging to init. The value goes through kstrtobool
    /// (y/Y/t/T/1, n/N/f/F/0, on/off); a later occurrence overrides an earlier one, as early_param
    /// handlers run in command-line order. A malformed value leaves the sanitizer off.
    /// </summary>
    public static DebugPageallocParam Parse(string commandLine)
    {
        ArgumentNullException.ThrowIfNull(commandLine);
        var result = new DebugPageallocParam(false, false, false);
        var i = 0;
        while (i < commandLine.Length)
        {
            while (i < commandLine.Length && char.IsWhiteSpace(commandLine[i]))
            {
                i++;
            }

            var start = i;
            var inQuotes = false;
            while (i < commandLine.Length && (inQuotes || !char.IsWhiteSpace(commandLine[i])))
            {
                if (commandLine[i] == '"')
                {
                    inQuotes = !inQuotes;
                }

                i++;
            }

            var token = commandLine.AsSpan(start, i - start);
            if (token.Length == 0)
            {
                break;
            }

            if (token.SequenceEqual("--"))
            {
                break;
            }

            var eq = token.IndexOf('=');
            var key = eq < 0 ? token : token[..eq];
            if (!key.SequenceEqual(Name))
            {
                continue;
            }

            if (eq < 0)
            {
                // No value: kstrtobool(NULL) is -EINVAL.
                result = new DebugPageallocParam(true, false, true);
                continue;
            }

            var value = token[(eq + 1)..].Trim('"');
            result = KstrToBool(value) is { } enabled
                ? new DebugPageallocParam(true, enabled, false)
                : new DebugPageallocParam(true, false, true);
        }

        return result;
    }

    /// <summary>kstrtobool: decides on the first character (two for on/off); anything else is -EINVAL.</summary>
    private static bool? KstrToBool(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty)
        {
            return null;
        }

        switch (s[0])
        {
            case 'y' or 'Y' or 't' or 'T' or '1':
                return true;
            case 'n' or 'N' or 'f' or 'F' or '0':
                return false;
            case 'o' or 'O' when s.Length > 1:
                return s[1] switch
                {
                    'n' or 'N' => true,
                    'f' or 'F' => false,
                    _ => null,
                };
            default:
                return null;
        }
    }
}
