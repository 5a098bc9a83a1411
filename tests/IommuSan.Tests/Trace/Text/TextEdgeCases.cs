using System.IO.Compression;
using System.Text;
using IommuSan.Trace;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Records;

namespace IommuSan.Tests.Trace.Text;

/// <summary>What a user sees when a text trace is damaged, unusual or compressed.</summary>
public sealed class TextEdgeCases : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iommusan-text-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Lost_events_line_becomes_an_events_lost_diagnostic_for_that_cpu()
    {
        using var source = TraceFile.Open(TextGolden.FixturePath("ftrace-irq-info.txt"));
        _ = source.ReadEvents().Count();

        var lost = Assert.Single(source.Diagnostics.ToList(), d => d.Kind == DiagnosticCatalog.EventsLost);
        Assert.Equal(1, lost.Cpu);
        Assert.Equal(17, lost.Count);
        Assert.Equal(DataLossSeverity, lost.Kind.Severity);
    }

    [Fact]
    public void Bad_lines_are_counted_with_the_first_line_number_and_skipped()
    {
        using var source = TraceFile.Open(TextGolden.FixturePath("ftrace-irq-info.txt"));
        var events = source.ReadEvents().Count();

        var diagnostics = source.Diagnostics.ToList();
        var line = Assert.Single(diagnostics, d => d.Kind == DiagnosticCatalog.UnparsableLine);
        Assert.Equal("line 32", line.Location);
        var fields = Assert.Single(diagnostics, d => d.Kind == DiagnosticCatalog.UnparsableFields);
        Assert.Equal("line 31", fields.Location);
        Assert.Equal(17, events); // the broken map, the junk line and the unknown sched_switch are not events
    }

    [Fact]
    public void Trace_cmd_dropped_events_and_failed_to_parse_events_are_reported()
    {
        using var source = TraceFile.Open(TextGolden.FixturePath("trace-cmd-report.txt"));
        _ = source.ReadEvents().Count();

        var diagnostics = source.Diagnostics.ToList();
        var dropped = Assert.Single(diagnostics, d => d.Kind == DiagnosticCatalog.EventsLost);
        Assert.Equal((0, 3L), (dropped.Cpu!.Value, dropped.Count));
        Assert.Equal(2, Assert.Single(diagnostics, d => d.Kind == DiagnosticCatalog.FailedToParse).Count);
        Assert.Equal(2, source.CpuCount);
    }

    [Theory]
    [InlineData(3 << 19)] // 1.5 MiB: read whole into a grown chunk, caught while decoding it
    [InlineData(5 << 20)] // 5 MiB: no line end however far the chunk may grow, caught while reading
    public void A_line_longer_than_the_limit_is_an_error_naming_the_line(int length)
    {
        var path = Write("long.txt", "# tracer: nop\n" + new string('x', length) + "\n# after\n");
        using var source = TraceFile.Open(path);

        var ex = Assert.Throws<TraceDataException>(() => source.ReadEvents().Count());

        Assert.Equal(2, ex.Line);
        Assert.Contains("long.txt", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gzip_and_zstd_text_read_like_the_plain_text()
    {
        var plain = File.ReadAllBytes(TextGolden.FixturePath("ftrace-tgid-no-irq-info.txt"));
        var gz = Path.Combine(_dir, "t.txt.gz");
        using (var gzip = new GZipStream(File.Create(gz), CompressionLevel.Fastest))
        {
            gzip.Write(plain);
        }

        var zst = Path.Combine(_dir, "t.txt.zst");
        using (var compressor = new ZstdSharp.Compressor())
        {
            File.WriteAllBytes(zst, compressor.Wrap(plain).ToArray());
        }

        var expected = File.ReadAllText(TextGolden.FixturePath("ftrace-tgid-no-irq-info.expected.jsonl"));
        foreach (var file in new[] { gz, zst })
        {
            using var source = TraceFile.Open(file);
            Assert.Equal(expected, TextGolden.DumpToString(source));
        }
    }

    [Fact]
    public void Old_kernels_decimal_pfn_and_a_counter_clock_are_read()
    {
        var path = Write("old.txt", "          insmod-485     [001] .....   123456789: mm_page_free: page=ff9337e8003cd280 pfn=62282 order=2\n");
        using var source = TraceFile.Open(path);

        var e = Assert.Single(source.ReadEvents());

        Assert.Equal(123456789, e.TimeNs);
        Assert.True(e.TryGetUInt64("pfn", out var pfn));
        Assert.Equal(62282UL, pfn);
        Assert.True(e.TryGetUInt64("order", out var order));
        Assert.Equal(2UL, order);
    }

    [Fact]
    public void Symbolic_direction_flags_and_truncated_sg_arrays_become_numbers()
    {
        var path = Write("sg.txt",
            "              dd-457     [000] .....    13.190658: dma_map_sg: 0000:00:03.0 dir=BIDIRECTIONAL nents=128/130 ents=1/1 [TRUNCATED] dma_addrs={0xfffa0000} sizes={0x10000} phys_addrs={0x2bf1000,0xf400000} attrs=NO_WARN|SKIP_CPU_SYNC|UNKNOWN_FLAG\n"
            + "              dd-457     [000] .....    13.190700: mm_page_alloc: page=0000000000000000 pfn=0x0 order=0 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_BRAND_NEW\n");
        using var source = TraceFile.Open(path);

        var events = source.ReadEvents().Select(e => (e.Format, Payload: e.Payload.ToArray(), e.TimeNs, e.Cpu, e.Pid, e.Comm)).ToList();

        var sg = new TraceEvent(events[0].TimeNs, events[0].Cpu, events[0].Pid, events[0].Comm, events[0].Format, events[0].Payload);
        Assert.True(sg.TryGetUInt64("dir", out var dir));
        Assert.Equal(0UL, dir);
        Assert.True(sg.TryGetUInt64("truncated", out var truncated));
        Assert.Equal(1UL, truncated);
        Assert.True(sg.TryGetUInt64("full_nents", out var fullNents));
        Assert.Equal(130UL, fullNents);
        Assert.True(sg.TryGetUInt64("attrs", out var attrs));
        Assert.Equal((1UL << 8) | (1UL << 5), attrs);
        var phys = sg.Format.IndexOf("phys_addrs");
        Assert.Equal(2, sg.GetArrayLength(phys));
        Assert.Equal(0xf400000UL, sg.GetArrayElement(phys, 1));
        var alloc = new TraceEvent(events[1].TimeNs, events[1].Cpu, events[1].Pid, events[1].Comm, events[1].Format, events[1].Payload);
        Assert.True(alloc.TryGetUInt64("gfp_flags", out var gfp));
        Assert.Equal(0xcc0UL, gfp); // GFP_KERNEL; the unknown name counts 0
        Assert.Equal(0, source.Diagnostics.Count);
    }

    [Fact]
    public void Format_can_be_forced_and_wrong_input_is_a_one_line_error()
    {
        var binary = Write("junk.bin", "\0\u0001\u0002 not a trace");
        Assert.Throws<TraceDataException>(() => TraceFile.Open(binary).Dispose());

        using var forced = TraceFile.Open(TextGolden.FixturePath("perf-script.txt"), new TraceOpenOptions(Kind: TraceKind.FtraceText));
        Assert.Equal(TraceKind.FtraceText, forced.Kind);
        Assert.Equal(11, forced.ReadEvents().Count()); // the same lines decode whichever text kind is named
    }

    [Fact]
    public void Tracefs_events_directory_layout_is_accepted_for_formats()
    {
        var events = Path.Combine(_dir, "events", "kmem", "mm_page_free");
        Directory.CreateDirectory(events);
        var captured = File.ReadAllText(Samples.PathOf("tracepoints-page_uaf-clean", Path.Combine("formats", "kmem", "mm_page_free.format")));
        File.WriteAllText(Path.Combine(events, "format"), captured.Replace("ID: 623", "ID: 4242", StringComparison.Ordinal));
        var path = Write("one.txt", "          insmod-485     [001] .....    15.360043: mm_page_free: page=ff9337e8003cd280 pfn=0xf34a order=0\n");

        using var source = TraceFile.Open(path, new TraceOpenOptions(FormatsDirectory: Path.Combine(_dir, "events")));
        var e = Assert.Single(source.ReadEvents());

        Assert.Equal(4242, e.Format.Id); // the id from the user's format file, not the built-in one
    }

    private const Severity DataLossSeverity = Severity.DataLoss;

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }
}
