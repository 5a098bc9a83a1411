using System.Text.Json;
using IommuSan.Trace;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Records;

namespace IommuSan.Tests.Trace.Text;

/// <summary>Shared helpers for reading the real captures under samples/.</summary>
internal static class Samples
{
    public static readonly string[] Names = ["tracepoints-page_uaf-clean", "kprobes-page_uaf-clean"];

    public static string PathOf(string sample, string file) => Path.Combine(AppContext.BaseDirectory, "samples", sample, file);

    /// <summary>The manifest's "event_counts" for one file, keyed by event name as the manifest spells it.</summary>
    public static Dictionary<string, long> ManifestCounts(string sample, string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(PathOf(sample, "manifest.json")));
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.GetProperty("event_counts").GetProperty(file).EnumerateObject())
        {
            result[p.Name] = p.Value.GetInt64();
        }

        return result;
    }

    /// <summary>Counts per event name, with the trace_marker event named as tracefs text names it.</summary>
    public static Dictionary<string, long> CountByName(ITraceSource source, bool markerAsText)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var e in source.ReadEvents())
        {
            var name = markerAsText && e.System == "ftrace" && e.Name == "print" ? "tracing_mark_write" : e.Name;
            counts[name] = counts.GetValueOrDefault(name) + 1;
        }

        return counts;
    }
}

/// <summary>Every shared capture's tracefs text (trace.txt.gz) reads with the manifest's counts per event.</summary>
public sealed class SampleTextTraces
{
    [Theory]
    [InlineData("tracepoints-page_uaf-clean")]
    [InlineData("kprobes-page_uaf-clean")]
    public void Text_trace_of_each_capture_has_the_manifest_counts_per_event(string sample)
    {
        using var source = TraceFile.Open(Samples.PathOf(sample, "trace.txt.gz"));

        var counts = Samples.CountByName(source, markerAsText: true);

        Assert.Equal(TraceKind.FtraceText, source.Kind);
        Assert.Equal(Samples.ManifestCounts(sample, "trace.txt").OrderBy(p => p.Key), counts.OrderBy(p => p.Key));
        Assert.Equal(0, source.Diagnostics.Count);
        Assert.Equal(2, source.CpuCount);
    }

    [Fact]
    public void Kprobes_without_format_files_are_synthesized_with_their_printed_fields()
    {
        using var source = TraceFile.Open(Samples.PathOf("kprobes-page_uaf-clean", "trace.txt.gz"));

        var first = source.ReadEvents().First(e => e.Name == "__iommu_map");

        Assert.Equal("kprobes", first.System);
        Assert.True(first.Format.IsProbe);
        Assert.True(first.TryGetUInt64("domain", out var domain));
        Assert.Equal(0xff449d1f81d3f8a0UL, domain);
        Assert.True(first.TryGetUInt64("iova", out var iova));
        Assert.Equal(0xffeb7000UL, iova);
    }

    [Fact]
    public void Kprobes_with_the_captures_format_files_decode_through_them()
    {
        var formats = Path.Combine(AppContext.BaseDirectory, "samples", "kprobes-page_uaf-clean", "formats");
        using var source = TraceFile.Open(Samples.PathOf("kprobes-page_uaf-clean", "trace.txt.gz"), new TraceOpenOptions(FormatsDirectory: formats));

        var counts = Samples.CountByName(source, markerAsText: true);

        Assert.Equal(Samples.ManifestCounts("kprobes-page_uaf-clean", "trace.txt").OrderBy(p => p.Key), counts.OrderBy(p => p.Key));
        Assert.Contains(source.Formats, f => f.System == "kprobes" && f.Name == "__iommu_unmap_ret" && f.Id == 1506);
        Assert.Equal(0, source.Diagnostics.Count);
    }
}
