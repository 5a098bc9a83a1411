using System.Globalization;
using System.Text;

namespace IommuSan.Trace.Dat;

/// <summary>The ring-buffer page layout the file's tracefs <c>events/header_page</c> text declares.</summary>
/// <param name="CommitSize">Size of <c>local_t commit</c>: the kernel's long (8 or 4).</param>
/// <param name="DataOffset">Offset of the event data in a sub-buffer (8 + CommitSize).</param>
internal readonly record struct HeaderPageLayout(int CommitSize, int DataOffset);

/// <summary>Parsers for the small text blocks a trace.dat stores: header_page, saved cmdlines, the trace clock.</summary>
internal static class TraceDatText
{
    /// <summary>
    /// Reads the commit and data fields from header_page text such as
    /// <c>field: local_t commit;	offset:8;	size:8;	signed:1;</c>. Null when the text does not declare
    /// them (the caller then falls back to the file's long size).
    /// </summary>
    public static HeaderPageLayout? ParseHeaderPage(string text)
    {
        int? commitSize = null;
        int? commitOffset = null;
        int? dataOffset = null;
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.Trim();
            if (!line.StartsWith("field:", StringComparison.Ordinal))
            {
                continue;
            }

            var parts = line.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3)
            {
                continue;
            }

            var decl = parts[0]["field:".Length..].Trim();
            var name = decl[(decl.LastIndexOf(' ') + 1)..];
            var offset = NumberAfter(parts, "offset:");
            var size = NumberAfter(parts, "size:");
            switch (name)
            {
                case "commit":
                    commitSize = size;
                    commitOffset = offset;
                    break;
                case "data":
                    dataOffset = offset;
                    break;
                default:
                    break;
            }
        }

        if (commitSize is not (4 or 8) || commitOffset != TraceDatLayout.PageCommitOffset || dataOffset != TraceDatLayout.PageCommitOffset + commitSize)
        {
            return null;
        }

        return new HeaderPageLayout(commitSize.Value, dataOffset.Value);
    }

    private static int? NumberAfter(string[] parts, string key)
    {
        foreach (var p in parts)
        {
            if (p.StartsWith(key, StringComparison.Ordinal)
                && int.TryParse(p.AsSpan(key.Length).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            {
                return v;
            }
        }

        return null;
    }

    /// <summary>
    /// Saved cmdlines (tracefs <c>saved_cmdlines</c>): one "pid comm" per line. Later lines win;
    /// malformed lines are skipped (they can only make a comm unknown, never a wrong event).
    /// </summary>
    public static void ParseCmdlines(ReadOnlySpan<byte> text, Dictionary<int, string> comms)
    {
        while (!text.IsEmpty)
        {
            var nl = text.IndexOf((byte)'\n');
            var line = nl < 0 ? text : text[..nl];
            text = nl < 0 ? default : text[(nl + 1)..];
            var space = line.IndexOf((byte)' ');
            if (space > 0
                && int.TryParse(line[..space], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && space + 1 < line.Length)
            {
                comms[pid] = Encoding.UTF8.GetString(line[(space + 1)..]).TrimEnd('\r', '\0');
            }
        }
    }

    /// <summary>
    /// The selected clock from tracefs <c>trace_clock</c> text ("[local] global counter ...");
    /// a bare name ("local", as v7's BUFFER option stores it) is returned as it is.
    /// </summary>
    public static string? SelectedClock(string text)
    {
        var open = text.IndexOf('[', StringComparison.Ordinal);
        if (open >= 0)
        {
            var close = text.IndexOf(']', open + 1);
            return close > open + 1 ? text[(open + 1)..close].Trim() : null;
        }

        var bare = text.Trim('\0', ' ', '\n', '\r', '\t');
        return bare.Length == 0 || bare.Contains(' ', StringComparison.Ordinal) ? null : bare;
    }

    /// <summary>
    /// Clocks whose values are nanoseconds (the kernel's trace_clocks table marks them in_ns):
    /// everything else (counter, uptime in jiffies, x86-tsc, ppc-tb, unknown names) is a raw counter.
    /// </summary>
    public static bool IsNanosecondClock(string clock) => clock switch
    {
        "local" or "global" or "perf" or "mono" or "mono_raw" or "boot" or "tai" or "tsc2nsec" => true,
        _ => false,
    };
}
