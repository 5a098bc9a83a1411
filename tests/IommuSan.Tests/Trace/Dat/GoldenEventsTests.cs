using System.Globalization;
using System.Text;
using IommuSan.Trace.Formats;
using IommuSan.Trace.Records;

namespace IommuSan.Tests.Trace.Dat;

/// <summary>
/// Golden decoded events: the first event of every kind in each real capture, with all its fields, side by
/// side with the line Debian's <c>trace-cmd report -t -R</c> (3.1.6) printed for the same event. The test
/// checks our rendering against the committed expectation and cross-checks every field against the
/// trace-cmd line (numbers, strings and raw ARRAY bytes). Expectations: tests/IommuSan.Tests/Fixtures/TraceDat/.
/// Accept a new baseline (needs trace-cmd) with <c>IOMMUSAN_ACCEPT=1 dotnet test --filter GoldenEventsTests</c>.
/// </summary>
public sealed class GoldenEventsTests
{
    public static TheoryData<string> Captures => new(DatFixtures.Captures);

    [Theory]
    [MemberData(nameof(Captures))]
    public void First_event_of_every_kind_decodes_as_the_golden_file_and_trace_cmd_say(string capture)
    {
        var expectationPath = Path.Combine(AppContext.BaseDirectory, "Fixtures", "TraceDat", $"{capture}.golden.txt");
        using var reader = DatFixtures.Open(DatFixtures.V7Path(capture));
        var picked = new List<(int Index, string Rendered)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var e in reader.ReadEvents())
        {
            if (seen.Add($"{e.System}:{e.Name}"))
            {
                picked.Add((index, Render(e)));
            }

            index++;
        }

        if (Environment.GetEnvironmentVariable("IOMMUSAN_ACCEPT") == "1" && TraceCmd.IsInstalled)
        {
            Accept(capture, picked);
        }

        var golden = ParseGolden(File.ReadAllText(expectationPath));
        Assert.Equal(golden.Select(g => (g.Index, g.Rendered)), picked);
        using var again = DatFixtures.Open(DatFixtures.V7Path(capture));
        index = 0;
        var wanted = golden.ToDictionary(g => g.Index);
        foreach (var e in again.ReadEvents())
        {
            if (wanted.TryGetValue(index, out var g))
            {
                CrossCheck(e, g.TraceCmdLine);
            }

            index++;
        }
    }

    [Fact]
    public void Dma_map_sg_arrays_decode_where_trace_cmd_prints_failed_to_parse()
    {
        // trace-cmd 3.1.6: "dma_map_sg: [FAILED TO PARSE] ... phys_addrs=ARRAY[00, 10, bf, 02, ...]"; the tracefs text
        // of the same workload prints "dma_addrs={0xfffa0000} sizes={0x10000} phys_addrs={0x2bf1000,0xf400000}".
        using var reader = DatFixtures.Open(DatFixtures.V7Path("tracepoints-page_uaf-clean"));
        var sg = reader.ReadEvents(EventFilter.Parse("dma:dma_map_sg")).First();
        var f = sg.Format;

        Assert.Equal("0000:00:03.0", sg.GetString("device"));
        Assert.Equal([0x2bf1000UL, 0xf400000UL], Elements(sg, f.IndexOf("phys_addrs")));
        Assert.Equal([0xfffa0000UL], Elements(sg, f.IndexOf("dma_addrs")));
        Assert.Equal([0x10000UL], Elements(sg, f.IndexOf("lengths")));
        Assert.True(sg.TryGetUInt64("full_nents", out var nents) && nents == 2);
    }

    private static List<ulong> Elements(TraceEvent e, int field) =>
        Enumerable.Range(0, e.GetArrayLength(field)).Select(i => e.GetArrayElement(field, i)).ToList();

    /// <summary>"time cpu pid comm system:name" then one "  field=value" line per non-common field.</summary>
    internal static string Render(TraceEvent e)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{e.TimeNs} cpu={e.Cpu} pid={e.Pid} comm={e.Comm} {e.System}:{e.Name}");
        var fields = e.Format.Fields;
        for (var i = 0; i < fields.Length; i++)
        {
            var f = fields[i];
            if (f.IsCommon)
            {
                continue;
            }

            sb.Append("\n  ").Append(f.Name).Append('=');
            if (f.IsString)
            {
                sb.Append('"').Append(e.GetString(i).Replace("\n", "\\n", StringComparison.Ordinal)).Append('"');
            }
            else if (f.Layout == FieldLayout.Scalar)
            {
                sb.Append(Number(e.GetUInt64(i), f.IsSigned));
            }
            else
            {
                sb.Append('[').AppendJoin(", ", Enumerable.Range(0, e.GetArrayLength(i)).Select(k => Number(e.GetArrayElement(i, k), f.IsSigned))).Append(']');
            }
        }

        return sb.ToString();
    }

    private static string Number(ulong v, bool signed) =>
        signed ? ((long)v).ToString(CultureInfo.InvariantCulture) : $"0x{v:x}";

    /// <summary>Every field of our event agrees with trace-cmd's raw (-R) line: header, numbers, strings, array bytes.</summary>
    private static void CrossCheck(TraceEvent e, string line)
    {
        Assert.Equal((e.Comm, e.Pid, e.Cpu, e.TimeNs, e.Name), TraceCmdInteropTests.ParseHeader(line));
        var fields = e.Format.Fields;
        var body = line[(line.IndexOf($" {e.Name}:", StringComparison.Ordinal) + e.Name.Length + 2)..];
        var checkedFields = 0;
        for (var i = 0; i < fields.Length; i++)
        {
            var f = fields[i];
            if (f.IsCommon)
            {
                continue;
            }

            var value = ValueOf(body, f.Name, fields.Skip(i + 1).Where(n => !n.IsCommon).Select(n => n.Name).FirstOrDefault());
            Assert.True(value is not null, $"{e.Name}: trace-cmd printed no {f.Name}= in '{line}'");
            if (value.StartsWith("ARRAY[", StringComparison.Ordinal))
            {
                Assert.True(e.TryGetFieldBytes(i, out var raw));
                Assert.Equal(Convert.ToHexString(raw).ToLowerInvariant(), value[6..^1].Replace(", ", string.Empty, StringComparison.Ordinal));
                checkedFields++;
            }
            else if (f.IsString)
            {
                Assert.Equal(e.GetString(i).TrimEnd('\n'), value);
                checkedFields++;
            }
            else if (NumberMatches(e.GetUInt64(i), f.IsSigned, value) is { } ok)
            {
                Assert.True(ok, $"{e.Name}.{f.Name}: ours 0x{e.GetUInt64(i):x}, trace-cmd '{value}'");
                checkedFields++;
            }
        }

        Assert.True(checkedFields > 0 || fields.All(f => f.IsCommon), $"nothing of '{line}' could be compared");
    }

    // The value printed for "name=" up to " next=" (trace-cmd prints fields in format order).
    private static string? ValueOf(string body, string name, string? next)
    {
        var start = body.IndexOf($" {name}=", StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }

        start += name.Length + 2;
        var end = next is null ? -1 : body.IndexOf($" {next}=", start, StringComparison.Ordinal);
        return (end < 0 ? body[start..] : body[start..end]).TrimEnd();
    }

    // trace-cmd prints numbers as decimal, 0x-hex or bare hex depending on the format; symbols are not numbers (null).
    private static bool? NumberMatches(ulong ours, bool signed, string printed)
    {
        if (printed == "(nil)")
        {
            return ours == 0;
        }

        if (printed.StartsWith("0x", StringComparison.Ordinal))
        {
            return ulong.TryParse(printed.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hex) ? hex == ours : null;
        }

        // Signed fields come back sign-extended, so a printed -1 is ours as (ulong)-1.
        if (long.TryParse(printed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var dec) && (ulong)dec == ours)
        {
            return true;
        }

        if (ulong.TryParse(printed, NumberStyles.None, CultureInfo.InvariantCulture, out var udec) && udec == ours)
        {
            return true;
        }

        if (ulong.TryParse(printed, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var bare))
        {
            return bare == ours || (signed && (uint)bare == (uint)ours);
        }

        return null;
    }

    private sealed record GoldenEvent(int Index, string Rendered, string TraceCmdLine);

    private static List<GoldenEvent> ParseGolden(string text)
    {
        var result = new List<GoldenEvent>();
        var blocks = text.Split("\nevent ", StringSplitOptions.None).Skip(1);
        foreach (var block in blocks)
        {
            var lines = block.Split('\n');
            var index = int.Parse(lines[0], CultureInfo.InvariantCulture);
            var rendered = new List<string>();
            string? traceCmd = null;
            foreach (var l in lines.Skip(1))
            {
                if (l.StartsWith("trace-cmd: ", StringComparison.Ordinal))
                {
                    traceCmd = l["trace-cmd: ".Length..];
                }
                else if (l.StartsWith("  ", StringComparison.Ordinal))
                {
                    rendered.Add(l[2..]);
                }
            }

            result.Add(new GoldenEvent(index, string.Join("\n", rendered), traceCmd!));
        }

        return result;
    }

    private static void Accept(string capture, List<(int Index, string Rendered)> picked)
    {
        var (exit, output, error) = TraceCmd.Run(["report", "-t", "-R", "-i", DatFixtures.V7Path(capture)]);
        Assert.True(exit == 0, error);
        var lines = output.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("cpus=", StringComparison.Ordinal)).ToList();
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# Golden events of samples/{capture}/trace.dat: the first event of every kind, as IommuSan decodes it\n");
        sb.Append("# (time_ns cpu pid comm system:name, then the non-common fields), followed by the line\n");
        sb.Append("# `trace-cmd report -t -R` (Debian trace-cmd 3.1.6) prints for the same event.\n");
        sb.Append("# Regenerate: IOMMUSAN_ACCEPT=1 dotnet test --filter GoldenEventsTests (needs trace-cmd).\n");
        foreach (var (index, rendered) in picked)
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nevent {index}\n");
            foreach (var l in rendered.Split('\n'))
            {
                sb.Append("  ").Append(l).Append('\n');
            }

            sb.Append("trace-cmd: ").Append(lines[index]).Append('\n');
        }

        // bin/<configuration>/<tfm>/ -> the test project's own Fixtures folder, and the copy next to the binaries.
        var project = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", ".."));
        Directory.CreateDirectory(Path.Combine(project, "Fixtures", "TraceDat"));
        File.WriteAllText(Path.Combine(project, "Fixtures", "TraceDat", $"{capture}.golden.txt"), sb.ToString());
        Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "Fixtures", "TraceDat"));
        File.WriteAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "TraceDat", $"{capture}.golden.txt"), sb.ToString());
    }
}
