using System.Buffers.Binary;
using IommuSan.Testing.TraceDat;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Tests.Trace.Dat;

/// <summary>Recoverable damage and notable facts become catalogued diagnostics, never silence.</summary>
public sealed class DamageDiagnosticsTests
{
    [Theory]
    [InlineData(7, "zstd")]
    [InlineData(6, "none")]
    public void Missed_events_flags_become_events_lost_diagnostics_with_cpu_and_count(int version, string compression)
    {
        var trace = new SyntheticTrace(seed: 2);
        var options = Options(trace, version, compression, new Dictionary<(int, int), long> { [(0, 1)] = 300, [(0, 4)] = 20, [(1, 2)] = -1 });

        var (events, diagnostics) = WriteAndRead(options, trace, 2000);

        Assert.Equal(4000, events);
        var lost = Assert.Single(diagnostics, d => d.Kind == DiagnosticCatalog.EventsLost);
        Assert.Equal((0, 320L, Severity.DataLoss), (lost.Cpu, lost.Count, lost.Kind.Severity));
        var unknown = Assert.Single(diagnostics, d => d.Kind == DiagnosticCatalog.EventsLostUnknownCount);
        Assert.Equal((1, 1L), (unknown.Cpu, unknown.Count));
    }

    [Fact]
    public void A_counter_clock_keeps_raw_values_and_says_so()
    {
        var trace = new SyntheticTrace(seed: 2);
        var options = new TraceDatWriterOptions { Clock = "x86-tsc", Formats = SyntheticTrace.Formats, Comms = trace.Comms };
        using var file = new TempFile(".dat");
        TraceDatWriter.WriteFile(file.Path, options, trace.EventsOfCpu(0, 10));
        using var reader = DatFixtures.Open(file.Path);

        Assert.Equal("x86-tsc", reader.Clock);
        Assert.Equal(trace.EventsOfCpu(0, 10).Select(e => (long)e.Timestamp), reader.ReadEvents().Select(e => e.TimeNs).ToList());
        var d = Assert.Single(reader.Diagnostics.ToList());
        Assert.Equal((DiagnosticCatalog.ClockNotNanoseconds, Severity.Info), (d.Kind, d.Kind.Severity));
    }

    [Fact]
    public void Other_buffer_instances_are_reported_as_not_read()
    {
        var trace = new SyntheticTrace(seed: 2);
        var options = new TraceDatWriterOptions { ExtraInstances = ["iommu_probe"], Formats = SyntheticTrace.Formats, Comms = trace.Comms };
        using var file = new TempFile(".dat");
        TraceDatWriter.WriteFile(file.Path, options, trace.EventsOfCpu(0, 10));
        using var reader = DatFixtures.Open(file.Path);

        Assert.Equal(10, reader.ReadEvents().Count());
        var d = Assert.Single(reader.Diagnostics.ToList());
        Assert.Equal(DiagnosticCatalog.InstanceNotRead, d.Kind);
        Assert.Contains("iommu_probe", d.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(6)]
    public void A_page_whose_data_length_exceeds_the_sub_buffer_is_skipped_and_counted(int version)
    {
        var trace = new SyntheticTrace(seed: 2);
        using var file = new TempFile(".dat");
        var map = TraceDatWriter.WriteFile(file.Path, Options(trace, version, "none"), Enumerable.Range(0, 2).SelectMany(c => trace.EventsOfCpu(c, 2000)));
        var perPage = CountEventsOfFirstPage(file.Path, map.CpuData[1].Offset);

        // Second CPU, first sub-buffer: commit (u64 at page offset 8) claims 8000 bytes of data.
        Patch(file.Path, map.CpuData[1].Offset + 8, 8000);
        using var reader = DatFixtures.Open(file.Path);

        Assert.Equal(4000 - perPage, reader.ReadEvents().Count());
        var d = Assert.Single(reader.Diagnostics.ToList());
        Assert.Equal((DiagnosticCatalog.CorruptPage, 1, 1L), (d.Kind, d.Cpu, d.Count));
        Assert.Contains("8000", d.Detail, StringComparison.Ordinal);
        Assert.Equal($"byte {map.CpuData[1].Offset}", d.Location);
    }

    [Fact]
    public void An_event_running_past_its_page_skips_the_rest_of_that_page_only()
    {
        var trace = new SyntheticTrace(seed: 2);
        using var file = new TempFile(".dat");
        var map = TraceDatWriter.WriteFile(file.Path, Options(trace, 7, "none"), trace.EventsOfCpu(0, 3000));
        var perPage = CountEventsOfFirstPage(file.Path, map.CpuData[0].Offset);

        // The first event header of the first page (after the 16-byte page header)
        // becomes a type_len-0 event whose array[0] claims 8000 bytes: more than a 4096-byte sub-buffer holds.
        var at = map.CpuData[0].Offset + 16;
        Patch32(file.Path, at, 0);
        Patch32(file.Path, at + 4, 8000);
        using var reader = DatFixtures.Open(file.Path);

        Assert.Equal(3000 - perPage, reader.ReadEvents().Count());
        var d = Assert.Single(reader.Diagnostics.ToList());
        Assert.Equal((DiagnosticCatalog.CorruptPage, 0), (d.Kind, d.Cpu));
    }

    [Fact]
    public void An_event_id_with_no_format_is_counted_and_skipped()
    {
        var trace = new SyntheticTrace(seed: 2);
        var free = new IommuSan.Trace.Records.PayloadBuilder(trace.Format("mm_page_free"));
        var good = free.Reset(101).Set("pfn", 1).Set("order", 0).ToArray();
        var bad = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(bad, 4242);
        using var file = new TempFile(".dat");
        TraceDatWriter.WriteFile(file.Path, Options(trace, 7, "zstd"), [new DatEvent(0, 10, good), new DatEvent(0, 20, bad), new DatEvent(0, 30, good)]);
        using var reader = DatFixtures.Open(file.Path);

        Assert.Equal([10L, 30L], reader.ReadEvents().Select(e => e.TimeNs).ToList());
        var d = Assert.Single(reader.Diagnostics.ToList());
        Assert.Equal((DiagnosticCatalog.UnknownEventId, 0, 20L), (d.Kind, d.Cpu, d.FirstTimeNs));
        Assert.Contains("4242", d.Detail, StringComparison.Ordinal);
    }

    private static TraceDatWriterOptions Options(SyntheticTrace trace, int version, string compression, Dictionary<(int, int), long>? lost = null) => new()
    {
        Version = version,
        Compression = Enum.Parse<DatCompression>(compression, ignoreCase: true),
        CpuCount = 2,
        Formats = SyntheticTrace.Formats,
        Comms = trace.Comms,
        LostEventsBeforePage = lost ?? [],
    };

    private static (int Events, IReadOnlyList<Diagnostic> Diagnostics) WriteAndRead(TraceDatWriterOptions options, SyntheticTrace trace, int perCpu)
    {
        using var file = new TempFile(".dat");
        TraceDatWriter.WriteFile(file.Path, options, Enumerable.Range(0, options.CpuCount).SelectMany(c => trace.EventsOfCpu(c, perCpu)));
        using var reader = DatFixtures.Open(file.Path);
        var n = reader.ReadEvents().Count();
        return (n, reader.Diagnostics.ToList());
    }

    // Counts the data events on one little-endian 64-bit sub-buffer by walking its event headers.
    private static int CountEventsOfFirstPage(string path, long pageAt)
    {
        var page = new byte[4096];
        using (var f = File.OpenRead(path))
        {
            f.Position = pageAt;
            f.ReadExactly(page);
        }

        var length = (int)(BinaryPrimitives.ReadUInt64LittleEndian(page.AsSpan(8)) & ((1 << 27) - 1));
        var pos = 16;
        var count = 0;
        while (pos < 16 + length)
        {
            var header = BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(pos));
            var typeLen = header & 31;
            pos += typeLen switch
            {
                0 => 4 + (int)((BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(pos + 4)) + 3) & ~3u),
                29 => 4 + (int)BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(pos + 4)),
                30 or 31 => 8,
                _ => 4 + ((int)typeLen * 4),
            };
            count += typeLen is < 29 ? 1 : 0;
        }

        return count;
    }

    private static void Patch(string path, long at, ulong value)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        using var f = File.OpenWrite(path);
        f.Position = at;
        f.Write(b);
    }

    private static void Patch32(string path, long at, uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        using var f = File.OpenWrite(path);
        f.Position = at;
        f.Write(b);
    }
}
