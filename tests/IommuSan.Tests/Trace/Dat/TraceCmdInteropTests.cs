using System.Globalization;
using IommuSan.Testing.TraceDat;
using IommuSan.Trace.Dat;

namespace IommuSan.Tests.Trace.Dat;

/// <summary>A fact skipped when trace-cmd is missing or was built without zlib (Debian's 3.1.6 has zstd only).</summary>
public sealed class TraceCmdZlibFactAttribute : FactAttribute
{
    public TraceCmdZlibFactAttribute()
    {
        if (!TraceCmd.IsInstalled)
        {
            Skip = TraceCmd.NotInstalled;
        }
        else if (!TraceCmd.Compressions().Contains("zlib"))
        {
            Skip = "this trace-cmd was built without zlib ('trace-cmd list -c'); zlib files are covered by the writer round trips";
        }
    }
}

/// <summary>Files from the test-only writer are readable by Debian's trace-cmd report, event for event.</summary>
public sealed class TraceCmdInteropTests
{
    public static TheoryData<int, string, bool, int> Layouts => new()
    {
        { 7, "zstd", false, 8 },
        { 7, "none", false, 8 },
        { 6, "none", false, 8 },
        { 7, "zstd", true, 8 },
        { 6, "none", true, 4 },
        { 7, "none", false, 4 },
    };

    [TraceCmdTheory]
    [MemberData(nameof(Layouts))]
    public void Trace_cmd_report_lists_the_same_events_as_the_reader(int version, string compression, bool bigEndian, int longSize) =>
        CompareWithTraceCmd(version, Enum.Parse<DatCompression>(compression, ignoreCase: true), bigEndian, longSize);

    [TraceCmdTheory]
    [InlineData("7", "none")]
    [InlineData("6", "none")]
    public void A_capture_converted_by_trace_cmd_reads_as_the_same_events(string version, string compression)
    {
        const string Capture = "kprobes-page_uaf-clean";
        using var converted = new TempFile(".dat");
        var (exit, _, error) = TraceCmd.Run(["convert", "-i", DatFixtures.V7Path(Capture), "-o", converted.Path,
            "--file-version", version, "--compression", compression]);
        Assert.True(exit == 0, $"trace-cmd convert failed ({exit}): {error}");

        using var original = DatFixtures.Open(DatFixtures.V7Path(Capture));
        using var copy = DatFixtures.Open(converted.Path);
        Assert.Equal("none", copy.Compression);
        Assert.Equal(DatFixtures.Snapshot(original), DatFixtures.Snapshot(copy));
    }

    [TraceCmdZlibFact]
    public void Trace_cmd_report_reads_zlib_files_written_by_the_writer() => CompareWithTraceCmd(7, DatCompression.Zlib, false, 8);

    [TraceCmdFact]
    public void Lost_events_trace_cmd_reports_as_dropped_are_the_reader_diagnostics()
    {
        var trace = new SyntheticTrace(seed: 4);
        var options = new TraceDatWriterOptions
        {
            Version = 7, Compression = DatCompression.Zstd, CpuCount = 2, Formats = SyntheticTrace.Formats, Comms = trace.Comms,
            LostEventsBeforePage = new Dictionary<(int, int), long> { [(0, 3)] = 1234, [(1, 2)] = 55, [(1, 5)] = 45 },
        };
        using var file = new TempFile(".dat");
        using (var written = File.Create(file.Path))
        {
            TraceDatWriter.Write(written, options, cpu => trace.EventsOfCpu(cpu, 1500, copyPayloads: false));
        }

        var (exit, output, error) = TraceCmd.Run(["report", "-t", "-i", file.Path]);
        Assert.True(exit == 0, $"trace-cmd report failed ({exit}): {error}");
        var dropped = output.Split('\n').Where(l => l.Contains("EVENTS DROPPED]", StringComparison.Ordinal))
            .Select(l => l.Trim()).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["CPU:0 [1234 EVENTS DROPPED]", "CPU:1 [45 EVENTS DROPPED]", "CPU:1 [55 EVENTS DROPPED]"], dropped);

        using var reader = DatFixtures.Open(file.Path);
        DatFixtures.Snapshot(reader);
        var lost = reader.Diagnostics.ToList().Where(d => d.Kind.Id == "events-lost").Select(d => (d.Cpu, d.Count)).Order().ToList();
        Assert.Equal([(0, 1234L), (1, 100L)], lost);
    }

    private static void CompareWithTraceCmd(int version, DatCompression codec, bool bigEndian, int longSize)
    {
        var trace = new SyntheticTrace(seed: 21, bigEndian, longSize);
        var options = new TraceDatWriterOptions
        {
            Version = version, Compression = codec, BigEndian = bigEndian, LongSize = longSize, CpuCount = 2,
            Formats = SyntheticTrace.Formats, Comms = trace.Comms, AbsoluteTimeStampEvery = 97, DiscardedEventEvery = 89,
        };
        using var file = new TempFile(".dat");
        using (var written = File.Create(file.Path))
        {
            TraceDatWriter.Write(written, options, cpu => trace.EventsOfCpu(cpu, 1500, copyPayloads: false));
        }

        var (exit, output, error) = TraceCmd.Run(["report", "-t", "-i", file.Path]);
        Assert.True(exit == 0, $"trace-cmd report failed ({exit}): {error}");
        var lines = output.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("cpus=", StringComparison.Ordinal)).ToList();

        using var reader = DatFixtures.Open(file.Path);
        var i = 0;
        foreach (var e in reader.ReadEvents())
        {
            Assert.True(i < lines.Count, "the reader yields more events than trace-cmd prints");
            Assert.Equal((e.Comm, e.Pid, e.Cpu, e.TimeNs, e.Name), ParseHeader(lines[i]));

            // Field values as trace-cmd prints them through the events' own print formats.
            if (e.Name == "map" && e.TryGetUInt64("iova", out var iova) && e.TryGetUInt64("paddr", out var paddr))
            {
                Assert.Contains($"iova=0x{iova:x16} ", lines[i], StringComparison.Ordinal);
                Assert.Contains($"paddr=0x{paddr:x16} ", lines[i], StringComparison.Ordinal);
            }
            else if (e.Name == "mm_page_free" && e.TryGetUInt64("pfn", out var pfn))
            {
                Assert.Contains($" pfn=0x{pfn:x} order=", lines[i], StringComparison.Ordinal);
            }
            else if (e.Name == "dma_map_page")
            {
                Assert.Contains($" {e.GetString("device")} dir=", lines[i], StringComparison.Ordinal);
            }

            i++;
        }

        Assert.Equal(lines.Count, i);
    }

    // "            ping-490   [001]    13.782000401: __iommu_map:  ..." (trace-cmd report -t)
    internal static (string Comm, int Pid, int Cpu, long TimeNs, string Name) ParseHeader(string line)
    {
        var open = line.IndexOf(" [", StringComparison.Ordinal);
        var close = line.IndexOf(']', open);
        var task = line[..open].Trim();
        var dash = task.LastIndexOf('-');
        var cpu = int.Parse(line[(open + 2)..close], CultureInfo.InvariantCulture);
        var rest = line[(close + 1)..].TrimStart();
        var colon = rest.IndexOf(": ", StringComparison.Ordinal);
        var time = rest[..colon].Trim();
        var dot = time.IndexOf('.', StringComparison.Ordinal);
        var ns = (long.Parse(time[..dot], CultureInfo.InvariantCulture) * 1_000_000_000) + long.Parse(time[(dot + 1)..], CultureInfo.InvariantCulture);
        var after = rest[(colon + 2)..];
        var name = after[..after.IndexOf(':', StringComparison.Ordinal)].Trim();
        return (task[..dash], int.Parse(task[(dash + 1)..], CultureInfo.InvariantCulture), cpu, ns, name);
    }
}
