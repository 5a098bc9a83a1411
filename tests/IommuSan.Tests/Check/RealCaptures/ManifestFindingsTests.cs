using System.Globalization;
using System.Text.Json;
using IommuSan.Reporting;

namespace IommuSan.Tests.Check.RealCaptures;

/// <summary>
/// On every real capture under samples/ (each manifest's expected findings are the ground truth),
/// check finds exactly the expected leaks, with the right pfn, device, iova (and domain when the
/// capture has kprobes), nothing on the clean scenario's page and nothing else at all.
/// </summary>
public sealed class ManifestFindingsTests
{
    public static TheoryData<string, string> Traces()
    {
        var data = new TheoryData<string, string>();
        foreach (var (folder, trace) in CheckTestSupport.CaptureTraces())
        {
            data.Add(folder, trace);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Traces))]
    public void Finds_exactly_the_expected_leaks_and_nothing_else(string folder, string trace)
    {
        var report = CheckTestSupport.CheckFile(Path.Combine(CheckTestSupport.SamplesDir, folder, trace));
        using var manifest = CheckTestSupport.Manifest(folder);
        var hasKprobes = manifest.RootElement.GetProperty("config").GetProperty("kprobes").GetBoolean();
        var expected = manifest.RootElement.GetProperty("expected").EnumerateArray().ToList();
        var leaks = expected.Where(ExpectsFinding).ToList();

        Assert.Equal(leaks.Count, report.Summary.Findings);
        Assert.Equal(leaks.Count, report.Findings.Count);
        Assert.Empty(report.Ambiguous);
        foreach (var leak in leaks)
        {
            var pfn = leak.GetProperty("pfn").GetString();
            var finding = Assert.Single(report.Findings, f => f.Pfn == pfn);
            Assert.Equal("page-leak", finding.Kind);
            Assert.Equal(leak.GetProperty("order").GetInt32(), finding.Order);
            var mapping = Assert.Single(finding.Mappings);
            Assert.Equal(leak.GetProperty("device").GetString(), mapping.Device);
            Assert.Equal(Hex(leak.GetProperty("iova").GetString()!), mapping.Iova);
            Assert.Equal(leak.GetProperty("size").GetUInt64(), mapping.Size);
            if (hasKprobes)
            {
                Assert.Equal(Hex(leak.GetProperty("domain").GetString()!), mapping.Domain);
            }

            // The first event while mapped is the manifest's first page event. The text trace comes from a second
            // ftrace instance that stamps its own times, up to a few tens of microseconds off trace.dat's (TCG guest).
            var first = leak.GetProperty("page_events_while_mapped")[0].GetString()!.Split(' ');
            Assert.Equal(first[1], finding.Event.Event);
            var expectedNs = (long)(decimal.Parse(first[0], CultureInfo.InvariantCulture) * 1_000_000_000m);
            Assert.InRange(finding.TimeNs, expectedNs - 100_000, expectedNs + 100_000);
            // Exposure window: a mapping the scenario never removes stays open; one removed later gets its unmap time.
            var neverUnmapped = leak.TryGetProperty("details", out var details) && details.TryGetProperty("unmap", out var unmap)
                ? unmap.GetString() == "never"
                : true;
            Assert.Equal(neverUnmapped, mapping.UnmappedAtNs is null);
            if (mapping.UnmappedAtNs is { } unmappedAt)
            {
                Assert.True(unmappedAt > finding.TimeNs, "the unmap that ends the exposure window comes after the page event");
                Assert.Equal(unmappedAt - finding.TimeNs, finding.ExposureNs);
            }
        }

        foreach (var clean in expected.Where(e => !ExpectsFinding(e)))
        {
            Assert.DoesNotContain(report.Findings, f => f.Pfn == clean.GetProperty("pfn").GetString());
        }
    }

    [Theory]
    [MemberData(nameof(Traces))]
    public void Later_frees_and_allocations_of_the_leaked_page_fold_batched_frees(string folder, string trace)
    {
        var report = CheckTestSupport.CheckFile(Path.Combine(CheckTestSupport.SamplesDir, folder, trace));
        using var manifest = CheckTestSupport.Manifest(folder);
        foreach (var leak in manifest.RootElement.GetProperty("expected").EnumerateArray().Where(ExpectsFinding))
        {
            // The manifest lists mm_page_free and its mm_page_free_batched twin as two events; one free is one event here.
            var events = leak.GetProperty("page_events_while_mapped").EnumerateArray().Select(e => e.GetString()!).ToList();
            var distinct = events.Count(e => !e.Contains("mm_page_free_batched", StringComparison.Ordinal));
            var finding = Assert.Single(report.Findings, f => f.Pfn == leak.GetProperty("pfn").GetString());
            Assert.Equal(distinct - 1, finding.LaterEventsTotal);
            Assert.DoesNotContain(finding.LaterEvents, l => l.Event == "mm_page_free_batched");
        }
    }

    [Fact]
    public void Text_v6_and_v7_of_one_recording_give_the_same_findings()
    {
        foreach (var group in CheckTestSupport.CaptureTraces().GroupBy(t => t.Folder))
        {
            var keys = group.Select(t => CheckTestSupport.CheckFile(Path.Combine(CheckTestSupport.SamplesDir, t.Folder, t.Trace)))
                .Select(r => string.Join(";", r.Findings.Select(f => $"{f.Kind} {f.Pfn} {f.Mappings[0].Device} {f.Mappings[0].Iova} {f.Mappings[0].Domain} {f.Event.Event} {f.LaterEventsTotal}")))
                .Distinct()
                .ToList();
            Assert.True(keys.Count == 1, $"{group.Key}: formats disagree: {string.Join(" | ", keys)}");
        }
    }

    [Fact]
    public void A_kprobe_text_trace_without_its_formats_folder_checks_the_same()
    {
        // The kprobe formats are then synthesised from the first line of each probe, after the check's event
        // filter was made: the filter must still take the probes the check uses (domain attribution).
        var alone = Directory.CreateTempSubdirectory("iommusan-noformats-").FullName;
        try
        {
            var withFormats = Path.Combine(CheckTestSupport.SamplesDir, "kprobes-strict-scenarios", "trace.txt.gz");
            var copy = Path.Combine(alone, "trace.txt.gz");
            File.Copy(withFormats, copy);

            var expected = CheckTestSupport.CheckFile(withFormats);
            var actual = CheckTestSupport.CheckFile(copy);

            Assert.Equal(expected.Summary.Events, actual.Summary.Events);
            Assert.Equal(Keys(expected), Keys(actual));
            Assert.Equal(expected.Diagnostics.Select(d => (d.Kind, d.Count)), actual.Diagnostics.Select(d => (d.Kind, d.Count)));
        }
        finally
        {
            Directory.Delete(alone, recursive: true);
        }

        static List<string> Keys(Reporting.CheckReport r) =>
            [.. r.Findings.Select(f => $"{f.Kind} {f.Pfn} {string.Join(",", f.Mappings.Select(m => $"{m.Domain} {m.Device} {m.Iova}"))}")];
    }

    [Fact]
    public void Every_shared_capture_is_covered()
    {
        var folders = CheckTestSupport.CaptureTraces().Select(t => t.Folder).Distinct().ToList();
        Assert.Contains("tracepoints-page_uaf-clean", folders);
        Assert.Contains("kprobes-page_uaf-clean", folders);
    }

    // Newer manifests say it outright (finding_expected); the first ones only have kinds "leak" and "clean".
    // Other kinds: "realloc" (freed and re-allocated while mapped: a finding), "subpage" (a slab object freed
    // while mapped, its page never freed: none), "no_page" (MMIO, no struct page: none).
    private static bool ExpectsFinding(JsonElement expected) =>
        expected.TryGetProperty("finding_expected", out var f)
            ? f.GetBoolean()
            : expected.GetProperty("kind").GetString() is "leak" or "realloc";

    private static string Hex(string manifestHex) =>
        "0x" + ulong.Parse(manifestHex.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture).ToString("x", CultureInfo.InvariantCulture);
}
