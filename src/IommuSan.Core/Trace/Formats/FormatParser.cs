using System.Collections.Immutable;
using System.Globalization;

namespace IommuSan.Trace.Formats;

/// <summary>
/// Parses the text of an event format file (tracefs <c>events/SYS/EVENT/format</c>; trace.dat stores
/// the same text). Grammar, as the kernel prints it (kernel/trace/trace_events.c, f_show):
/// <code>
/// name: map
/// ID: 1265
/// format:
/// 	field:u64 iova;	offset:8;	size:8;	signed:0;
/// 	...
/// print fmt: "IOMMU: iova=0x%016llx ...", REC->iova, ...
/// </code>
/// </summary>
internal static class FormatParser
{
    /// <summary>Parses one format file. Throws <see cref="FormatException"/> naming the bad line; callers add file context.</summary>
    /// <param name="system">The event system (the directory the format came from, or the trace.dat system entry).</param>
    /// <param name="text">The format file text.</param>
    /// <param name="longSize">sizeof(long) on the traced machine (8 or 4), for element sizes of dynamic arrays.</param>
    /// <param name="isBigEndian">Byte order of payloads this format describes.</param>
    public static EventFormat Parse(string system, string text, int longSize = 8, bool isBigEndian = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        string? name = null;
        int? id = null;
        var printFormat = string.Empty;
        var fields = ImmutableArray.CreateBuilder<FormatField>();
        var lineNo = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNo++;
            var line = rawLine.Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith("name:", StringComparison.Ordinal))
            {
                name = line["name:".Length..].Trim();
            }
            else if (line.StartsWith("ID:", StringComparison.Ordinal))
            {
                if (!int.TryParse(line.AsSpan(3).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                {
                    throw new FormatException($"format line {lineNo}: bad ID '{line}'");
                }

                id = parsed;
            }
            else if (line.StartsWith("field:", StringComparison.Ordinal))
            {
                fields.Add(ParseField(line, lineNo, longSize));
            }
            else if (line.StartsWith("print fmt:", StringComparison.Ordinal))
            {
                printFormat = line["print fmt:".Length..].Trim();
            }
        }

        if (name is null || name.Length == 0)
        {
            throw new FormatException("format has no 'name:' line");
        }

        if (id is null)
        {
            throw new FormatException($"format of '{name}' has no 'ID:' line");
        }

        return new EventFormat(id.Value, system, name, fields.ToImmutable(), printFormat, isBigEndian);
    }

    // "field:__data_loc u64[] phys_addrs;\toffset:24;\tsize:4;\tsigned:0;"
    private static FormatField ParseField(string line, int lineNo, int longSize)
    {
        var parts = line.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3)
        {
            throw new FormatException($"format line {lineNo}: expected 'field:...; offset:N; size:N;' but got '{line}'");
        }

        var decl = parts[0]["field:".Length..].Trim();
        int? offset = null, size = null;
        var isSigned = false;
        foreach (var part in parts.AsSpan(1))
        {
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                continue;
            }

            var key = part[..colon].Trim();
            if (!int.TryParse(part.AsSpan(colon + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                throw new FormatException($"format line {lineNo}: bad number in '{part}'");
            }

            switch (key)
            {
                case "offset": offset = value; break;
                case "size": size = value; break;
                case "signed": isSigned = value != 0; break;
                default: break;
            }
        }

        if (offset is null || size is null)
        {
            throw new FormatException($"format line {lineNo}: field without offset or size: '{line}'");
        }

        // The declaration is "<type words> <name>" where the name may carry "[N]" or "[]".
        var lastSpace = decl.LastIndexOf(' ');
        if (lastSpace <= 0)
        {
            throw new FormatException($"format line {lineNo}: cannot split type and name in '{decl}'");
        }

        var type = decl[..lastSpace].Trim();
        var fieldName = decl[(lastSpace + 1)..];
        var bracket = fieldName.IndexOf('[', StringComparison.Ordinal);
        string? arraySuffix = null;
        if (bracket >= 0)
        {
            arraySuffix = fieldName[bracket..];
            fieldName = fieldName[..bracket];
            type += "[]";
        }

        FieldLayout layout;
        int elementSize;
        if (type.StartsWith("__data_loc", StringComparison.Ordinal))
        {
            layout = FieldLayout.DataLoc;
            elementSize = ElementSizeOf(type["__data_loc".Length..], longSize);
        }
        else if (type.StartsWith("__rel_loc", StringComparison.Ordinal))
        {
            layout = FieldLayout.RelLoc;
            elementSize = ElementSizeOf(type["__rel_loc".Length..], longSize);
        }
        else if (arraySuffix is not null)
        {
            var count = arraySuffix.Trim('[', ']');
            if (count.Length == 0 || size == 0)
            {
                layout = FieldLayout.Trailing;
                elementSize = ElementSizeOf(type, longSize);
            }
            else
            {
                layout = FieldLayout.FixedArray;
                elementSize = int.TryParse(count, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 && size % n == 0
                    ? size.Value / n
                    : ElementSizeOf(type, longSize);
            }
        }
        else
        {
            layout = FieldLayout.Scalar;
            elementSize = size.Value;
        }

        if (offset < 0 || size < 0 || elementSize <= 0)
        {
            throw new FormatException($"format line {lineNo}: impossible layout in '{line}'");
        }

        return new FormatField(fieldName, type, offset.Value, size.Value, isSigned, layout, elementSize);
    }

    // Element size of an array's base type ("u64[]" -> 8, "unsigned int[]" -> 4, "char[]" -> 1).
    private static int ElementSizeOf(string type, int longSize)
    {
        var t = type.Replace("[]", string.Empty, StringComparison.Ordinal).Replace("unsigned", string.Empty, StringComparison.Ordinal)
            .Replace("signed", string.Empty, StringComparison.Ordinal).Trim();
        return t switch
        {
            "char" or "u8" or "s8" or "bool" or "__u8" or "uint8_t" or "int8_t" => 1,
            "short" or "u16" or "s16" or "__u16" or "uint16_t" or "int16_t" => 2,
            "" or "int" or "u32" or "s32" or "__u32" or "uint32_t" or "int32_t" or "pid_t" or "gfp_t" => 4,
            "long long" or "u64" or "s64" or "__u64" or "uint64_t" or "int64_t" or "dma_addr_t" or "phys_addr_t" => 8,
            "long" or "size_t" or "ssize_t" or "void *" => longSize,
            _ => t.EndsWith('*') ? longSize : 1,
        };
    }
}
