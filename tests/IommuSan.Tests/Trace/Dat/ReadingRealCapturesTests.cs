using IommuSan.Trace.Dat;
using IommuSan.Trace.Records;

namespace IommuSan.Tests.Trace.Dat;

/// <summary>The reader on the real 6.12 captures: trace.dat v7 (zstd) and its v6 conversion.</summary>
public sealed class ReadingRealCapturesTests
{
    public static TheoryData<string> Captures => new(DatFixtures.Captures);

    [Theory]
    [MemberData(nameof(Captures))]
    public void V7_zstd_capture_yields_the_manifest_event_counts(string capture)
    {
        using var reader = DatFixtures.Open(DatFixtures.V7Path(capture));
        Assert.Equal(TraceKind.TraceDatV7, reader.Kind);
        Assert.Equal("zstd", reader.Compression);
        Assert.Equal(DatFixtures.ManifestCounts(capture, "trace.dat"), CountByName(reader));
        Assert.Equal(0, reader.Diagnostics.Count);
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void V6_capture_yields_the_manifest_event_counts(string capture)
    {
        using var v6 = DatFixtures.V6(capture);
        using var reader = DatFixtures.Open(v6.Path);
        Assert.Equal(TraceKind.TraceDatV6, reader.Kind);
        Assert.Equal(DatFixtures.ManifestCounts(capture, "trace-v6.dat"), CountByName(reader));
        Assert.Equal(0, reader.Diagnostics.Count);
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void V6_and_v7_of_one_recording_give_identical_events(string capture)
    {
        using var v6File = DatFixtures.V6(capture);
        using var v6 = DatFixtures.Open(v6File.Path);
        using var v7 = DatFixtures.Open(DatFixtures.V7Path(capture));
        var a = DatFixtures.Snapshot(v6);
        var b = DatFixtures.Snapshot(v7);
        Assert.Equal(a.Count, b.Count);
        for (var i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i], b[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Events_come_out_in_time_order_with_ties_to_the_lower_cpu(string capture)
    {
        using var reader = DatFixtures.Open(DatFixtures.V7Path(capture));
        long lastTime = long.MinValue;
        var lastCpu = -1;
        foreach (var e in reader.ReadEvents())
        {
            Assert.True(e.TimeNs > lastTime || (e.TimeNs == lastTime && e.Cpu >= lastCpu), $"{e} after {lastTime} cpu {lastCpu}");
            lastTime = e.TimeNs;
            lastCpu = e.Cpu;
        }
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void The_header_gives_page_size_cpus_clock_and_byte_order(string capture)
    {
        using var reader = DatFixtures.Open(DatFixtures.V7Path(capture));
        Assert.Equal(12, reader.CpuPageShift);
        Assert.Equal(2, reader.CpuCount);
        Assert.Equal("local", reader.Clock);
        Assert.Equal(4096, reader.SubBufferSize);
        Assert.Equal(8, reader.KernelLongSize);
        Assert.False(reader.IsBigEndian);
        Assert.All(reader.Formats, f => Assert.False(f.IsBigEndian));
        Assert.Contains(reader.Formats, f => f.System == "ftrace" && f.Name == "print");
        Assert.Contains(reader.Formats, f => f.System == "iommu" && f.Name == "map");
    }

    [Fact]
    public void Kprobe_events_carry_their_group_as_system()
    {
        using var reader = DatFixtures.Open(DatFixtures.V7Path("kprobes-page_uaf-clean"));
        var map = Assert.Single(reader.Formats, f => f.Name == "__iommu_map");
        Assert.Equal("kprobes", map.System);
        Assert.True(map.IsProbe);
        var ret = Assert.Single(reader.Formats, f => f.Name == "__iommu_map_ret");
        Assert.True(ret.IsReturnProbe);
    }

    [Fact]
    public void A_filter_yields_only_the_selected_events()
    {
        using var reader = DatFixtures.Open(DatFixtures.V7Path("tracepoints-page_uaf-clean"));
        var counts = CountByName(reader, EventFilter.Parse("iommu,kmem:mm_page_free"));
        Assert.Equal(new Dictionary<string, long> { ["map"] = 1202, ["unmap"] = 393, ["mm_page_free"] = 4279 }, counts);
    }

    private static Dictionary<string, long> CountByName(TraceDatReader source, EventFilter? filter = null)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var e in source.ReadEvents(filter))
        {
            counts[e.Name] = counts.GetValueOrDefault(e.Name) + 1;
        }

        return counts;
    }
}
