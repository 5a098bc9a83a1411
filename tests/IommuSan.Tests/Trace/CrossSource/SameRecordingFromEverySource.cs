using System.Text;
using IommuSan.Tests.Trace.Text;
using IommuSan.Trace;
using IommuSan.Trace.Formats;
using IommuSan.Trace.Records;
using IommuSan.Trace.Text;

namespace IommuSan.Tests.Trace.CrossSource;

/// <summary>
/// The same recording read from tracefs text, trace.dat v7 and trace.dat v6 gives the same events:
/// the same count per event and the same decoded fields. The text was captured by a second ftrace
/// instance over a shorter window, and each instance stamps its own copy of an event: in these
/// captures the two stamps of one event differ by up to ~1.2 ms, and an interrupt between the two
/// buffer writes can swap neighbours. So, per CPU, the .dat stream is aligned on the text's first
/// events, the text-length slice is compared as a multiset of (event, decoded fields), starting and ending
/// within a few milliseconds of the text. trace_marker writes were made to each
/// instance separately: their texts are compared in order.
/// </summary>
public sealed class SameRecordingFromEverySource
{
    private const long ToleranceNs = 5_000_000;
    private const int AlignmentRun = 20;

    [Theory]
    [InlineData("tracepoints-page_uaf-clean", "trace.dat")]
    [InlineData("tracepoints-page_uaf-clean", "trace-v6.dat.gz")]
    [InlineData("kprobes-page_uaf-clean", "trace.dat")]
    [InlineData("kprobes-page_uaf-clean", "trace-v6.dat.gz")]
    public void Text_and_dat_agree_on_every_event_of_the_text_window(string sample, string datFile)
    {
        var formats = Path.Combine(AppContext.BaseDirectory, "samples", sample, "formats");
        var text = Keys(Samples.PathOf(sample, "trace.txt.gz"), new TraceOpenOptions(FormatsDirectory: formats));
        var dat = Keys(Samples.PathOf(sample, datFile), new TraceOpenOptions());

        var compared = 0;
        foreach (var cpu in text.Select(k => k.Cpu).Distinct())
        {
            var t = text.Where(k => k.Cpu == cpu && k.Event != "ftrace:print").ToList();
            var d = dat.Where(k => k.Cpu == cpu && k.Event != "ftrace:print").ToList();
            var start = Align(t, d);
            Assert.True(start >= 0, $"cpu {cpu}: the text's first events are not in {datFile}");
            var slice = d.GetRange(start, Math.Min(t.Count, d.Count - start));

            Assert.Equal(CountPerEvent(t), CountPerEvent(slice));
            var textOnly = Except(t, slice);
            var datOnly = Except(slice, t);
            Assert.True(textOnly.Count == 0 && datOnly.Count == 0,
                $"cpu {cpu}: text-only {string.Join(" | ", textOnly.Take(3))}; dat-only {string.Join(" | ", datOnly.Take(3))}");
            Assert.InRange(Math.Abs(t[^1].TimeNs - slice[^1].TimeNs), 0, ToleranceNs); // the slice ends where the text ends
            compared += t.Count;
        }

        Assert.True(compared > 15000, $"only {compared} text events compared");
        Assert.Equal(text.Where(k => k.Event == "ftrace:print").Select(k => k.Fields), dat.Where(k => k.Event == "ftrace:print").Select(k => k.Fields));
    }

    // First index of `dat` where the text's first events follow one another with close timestamps.
    private static int Align(List<EventKey> text, List<EventKey> dat)
    {
        for (var i = 0; i < dat.Count; i++)
        {
            if (Math.Abs(dat[i].TimeNs - text[0].TimeNs) > ToleranceNs)
            {
                continue;
            }

            var run = Math.Min(AlignmentRun, Math.Min(text.Count, dat.Count - i));
            var matches = true;
            for (var k = 0; k < run && matches; k++)
            {
                matches = text[k].Same(dat[i + k]);
            }

            if (matches)
            {
                return i;
            }
        }

        return -1;
    }

    private readonly record struct EventKey(int Cpu, long TimeNs, string Event, string Fields)
    {
        public bool Same(EventKey other) => Event == other.Event && Fields == other.Fields;

        public override string ToString() => $"[{Cpu}] {TimeNs} {Event} {Fields}";
    }

    private static List<EventKey> Keys(string path, TraceOpenOptions options)
    {
        using var source = TraceFile.Open(path, options);
        var comparable = new Dictionary<EventFormat, int[]>();
        var keys = new List<EventKey>();
        foreach (var e in source.ReadEvents())
        {
            if (!comparable.TryGetValue(e.Format, out var fields))
            {
                comparable[e.Format] = fields = ComparableFields(e.Format);
            }

            keys.Add(new EventKey(e.Cpu, e.TimeNs, $"{e.System}:{e.Name}", Describe(e, fields)));
        }

        return keys;
    }

    // The fields a text line carries: what the print format prints as a value (not symbols,
    // hashed pointers or kprobe locations, which text shows as names).
    private static int[] ComparableFields(EventFormat format) =>
        PrintTemplate.Compile(format).Parts
            .Where(p => p.Target is not (ConversionTarget.Literal or ConversionTarget.Skip) && p.FieldIndex >= 0)
            .Select(p => p.FieldIndex)
            .Where(i => !format.Fields[i].Name.StartsWith("__probe_", StringComparison.Ordinal))
            .Distinct()
            .Order()
            .ToArray();

    private static string Describe(TraceEvent e, int[] fields)
    {
        var sb = new StringBuilder();
        foreach (var i in fields)
        {
            var f = e.Format.Fields[i];
            sb.Append(f.Name).Append('=');
            if (f.IsString)
            {
                sb.Append(e.GetString(i).TrimEnd('\n')); // trace_marker text ends in the newline echo wrote; text lines cannot show it
            }
            else if (f.Layout == FieldLayout.Scalar)
            {
                sb.Append(e.GetUInt64(i));
            }
            else
            {
                var n = e.GetArrayLength(i);
                for (var k = 0; k < n; k++)
                {
                    sb.Append(k == 0 ? "{" : ",").Append(e.GetArrayElement(i, k));
                }

                sb.Append('}');
            }

            sb.Append(' ');
        }

        return sb.ToString();
    }

    private static SortedDictionary<string, int> CountPerEvent(List<EventKey> keys)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var k in keys)
        {
            counts[k.Event] = counts.GetValueOrDefault(k.Event) + 1;
        }

        return counts;
    }

    // Multiset difference a - b on (event, fields).
    private static List<EventKey> Except(List<EventKey> a, List<EventKey> b)
    {
        var remaining = new Dictionary<(string, string), int>();
        foreach (var k in b)
        {
            remaining[(k.Event, k.Fields)] = remaining.GetValueOrDefault((k.Event, k.Fields)) + 1;
        }

        var result = new List<EventKey>();
        foreach (var k in a)
        {
            if (remaining.TryGetValue((k.Event, k.Fields), out var n) && n > 0)
            {
                remaining[(k.Event, k.Fields)] = n - 1;
            }
            else
            {
                result.Add(k);
            }
        }

        return result;
    }
}
