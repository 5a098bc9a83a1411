using System.Security.Cryptography;
using System.Text.Json;

namespace IommuSan.Tests.Recording;

/// <summary>
/// The fixtures the capture harness produced (samples/*-scenarios) are what their manifests say:
/// every listed file has the recorded size and sha256, nothing unlisted lies beside them, every
/// scenario of the test module is there with its expected kind, and each expectation agrees with
/// the kernel log it was derived from.
/// </summary>
public sealed class CaptureManifestConsistencyTests
{
    /// <summary>The module's scenarios (capture/module/iommu_scenarios.c) and the kind each must expect.</summary>
    private static readonly Dictionary<string, string> ScenarioKinds = new(StringComparer.Ordinal)
    {
        ["page_uaf"] = "leak",
        ["clean"] = "clean",
        ["order2_inner"] = "leak",
        ["sg_uaf"] = "leak",
        ["late_unmap"] = "leak",
        ["realloc_mapped"] = "realloc",
        ["kmalloc_uaf"] = "subpage",
        ["mmio_resource"] = "no_page",
    };

    private static List<string> CaptureNames() =>
        Directory.GetDirectories(Path.Combine(AppContext.BaseDirectory, "samples"), "*-scenarios")
            .Select(d => Path.GetFileName(d)).Order(StringComparer.Ordinal).ToList();

    public static TheoryData<string> Captures() => new(CaptureNames());

    private static string Dir(string capture) => Path.Combine(AppContext.BaseDirectory, "samples", capture);

    private static JsonElement Manifest(string capture)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir(capture), "manifest.json")));
        return doc.RootElement.Clone();
    }

    [Fact]
    public void The_harness_fixtures_cover_tracepoints_kprobes_strict_and_lazy()
    {
        var configs = CaptureNames().Select(c => Manifest(c).GetProperty("config")).ToList();
        Assert.Contains(configs, c => !c.GetProperty("kprobes").GetBoolean() && c.GetProperty("iommu_strict").GetBoolean());
        Assert.Contains(configs, c => c.GetProperty("kprobes").GetBoolean() && c.GetProperty("iommu_strict").GetBoolean());
        Assert.Contains(configs, c => !c.GetProperty("iommu_strict").GetBoolean());
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Every_listed_file_has_its_recorded_size_and_sha256(string capture)
    {
        foreach (var file in Manifest(capture).GetProperty("files").EnumerateArray())
        {
            var path = Path.Combine(Dir(capture), file.GetProperty("path").GetString()!);
            Assert.True(File.Exists(path), $"{capture}: {path} is listed but missing");
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(file.GetProperty("bytes").GetInt64(), bytes.LongLength);
            Assert.Equal(file.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
        }
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void No_file_lies_in_the_fixture_without_a_manifest_entry(string capture)
    {
        var listed = Manifest(capture).GetProperty("files").EnumerateArray()
            .Select(f => f.GetProperty("path").GetString()!).ToHashSet(StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFiles(Dir(capture), "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(Dir(capture), path).Replace('\\', '/');
            Assert.True(rel == "manifest.json" || listed.Contains(rel), $"{capture}: {rel} is not in manifest.json");
        }
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Every_scenario_is_present_with_its_expected_kind_and_verified(string capture)
    {
        var expected = Manifest(capture).GetProperty("expected").EnumerateArray().ToList();
        foreach (var (scenario, kind) in ScenarioKinds)
        {
            var entries = expected.Where(e => e.GetProperty("scenario").GetString() == scenario).ToList();
            Assert.True(entries.Count > 0, $"{capture}: scenario {scenario} missing");
            Assert.All(entries, e => Assert.Equal(kind, e.GetProperty("kind").GetString()));
            Assert.All(entries, e => Assert.Equal("PASS", e.GetProperty("verification").GetString()));
        }

        Assert.Equal(3, expected.Count(e => e.GetProperty("scenario").GetString() == "sg_uaf"));
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Findings_are_expected_exactly_for_pages_freed_or_allocated_while_mapped(string capture)
    {
        foreach (var e in Manifest(capture).GetProperty("expected").EnumerateArray())
        {
            var kind = e.GetProperty("kind").GetString();
            var finding = kind is "leak" or "realloc";
            Assert.Equal(finding, e.GetProperty("finding_expected").GetBoolean());
            var events = e.GetProperty("page_events_while_mapped").EnumerateArray().Select(x => x.GetString()!).ToList();
            if (!finding)
            {
                Assert.Empty(events);
                continue;
            }

            // The first finding is the free of the page (for order2_inner: of the block holding it).
            Assert.Contains(" mm_page_free ", events[0], StringComparison.Ordinal);
            if (kind == "realloc")
            {
                Assert.Contains(events, x => x.Contains(" mm_page_alloc ", StringComparison.Ordinal));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Each_expectation_is_the_module_line_in_the_kernel_log(string capture)
    {
        var dmesg = File.ReadAllLines(Path.Combine(Dir(capture), "dmesg.txt"));
        var truthLines = dmesg.Where(l => l.Contains("iommu_scen: scenario=", StringComparison.Ordinal) && l.Contains(" expect=", StringComparison.Ordinal)).ToList();
        var expected = Manifest(capture).GetProperty("expected").EnumerateArray().ToList();

        Assert.Equal(truthLines, expected.Select(e => e.GetProperty("dmesg").GetString()));
        foreach (var e in expected)
        {
            var line = e.GetProperty("dmesg").GetString()!;
            Assert.Contains($" pfn={e.GetProperty("pfn").GetString()} ", line, StringComparison.Ordinal);
            Assert.Contains($" iova={e.GetProperty("iova").GetString()} ", line, StringComparison.Ordinal);
            Assert.Contains($" dev={e.GetProperty("device").GetString()} ", line, StringComparison.Ordinal);
            Assert.Contains($" domain={e.GetProperty("domain").GetString()![2..]} ", line, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void The_shipped_recorder_succeeded_and_removed_every_probe_it_added(string capture)
    {
        var config = Manifest(capture).GetProperty("config");
        Assert.Equal(0, config.GetProperty("recorder_exit_code").GetInt32());
        Assert.Empty(config.GetProperty("kprobe_events_after_record").EnumerateArray());
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Kprobes_the_script_added_in_the_guest_are_what_the_command_plans_for_6_12(string capture)
    {
        var recorded = File.ReadAllLines(Path.Combine(Dir(capture), "kprobe_events.txt"));
        if (!Manifest(capture).GetProperty("config").GetProperty("kprobes").GetBoolean())
        {
            Assert.Empty(recorded);
            return;
        }

        using var fs = new FakeTracefs(FakeTracefs.Linux612Events, FakeTracefs.Linux612Functions);
        var plan = IommuSan.Recording.RecordingPlan.Create(
            IommuSan.Recording.TracefsFeatures.Load(fs.Root), IommuSan.Recording.KprobeArchitecture.X86_64, IommuSan.Recording.KprobeMode.Auto);
        Assert.Equal(plan.Probes.Select(p => p.Line), recorded);
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Fixture_stays_small(string capture)
    {
        var total = Directory.EnumerateFiles(Dir(capture), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.True(total < 8L * 1024 * 1024, $"{capture}: {total} bytes");
    }
}
