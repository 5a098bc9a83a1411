using IommuSan.Replay;

namespace IommuSan.Tests.Check.Synthetic;

/// <summary>--mode kernel reproduces Linux 7.0 exactly (false positives included); --mode precise has no blind spots.</summary>
public sealed class ModeTests
{
    // Linux 7.2 VT-d with 2 MiB pages: a 4 KiB unmap inside a 2 MiB mapping removes the whole block
    // (unmapped_size=2097152); the kernel lowered only the first granule, so the other 511 pages keep a count.
    private static SyntheticTrace VtdPartialUnmapOf2M(CheckMode mode) => new SyntheticTrace(mode)
        .ProbeMap(0xd1, 0x40000000, 0x80000000, 0x200000).Map(0x40000000, 0x80000000, 0x200000)
        .ProbeUnmap(0xd1, 0x40000000, 4096).Unmap(0x40000000, 4096, 0x200000)
        .Free(0x80000, order: 9);

    [Fact]
    public void Kernel_mode_reports_the_511_false_leaks_of_a_partial_2M_unmap()
    {
        var report = VtdPartialUnmapOf2M(CheckMode.Kernel).Report();

        Assert.Equal(511, report.Findings.Count(f => f.Kind == "page-leak"));
        Assert.All(report.Findings.Where(f => f.Kind == "page-leak"), f => Assert.Empty(f.Mappings));
        Assert.Equal("kernel", report.Mode);
    }

    [Fact]
    public void Precise_mode_accounts_for_what_the_unmap_really_removed()
    {
        var report = VtdPartialUnmapOf2M(CheckMode.Precise).Report();

        Assert.DoesNotContain(report.Findings, f => f.Kind == "page-leak");
        Assert.Contains(report.Findings, f => f.Kind == "unmapped-more-than-requested");
    }
}

/// <summary>The map error path of Linux 7.0.0 to 7.0.10 (CVE-2026-64152), recognised from kprobes.</summary>
public sealed class MapErrorPathTests
{
    // __iommu_map of 8 KiB fails after mapping the first 4 KiB: no iommu:map, and its error path unmaps the 4 KiB.
    private static SyntheticTrace FailedHalfMap(CheckMode mode) => new SyntheticTrace(mode)
        .ProbeMap(0xd1, 0xffef0000, 0x1234000, 8192)
        .ProbeUnmap(0xd1, 0xffef0000, 4096).Unmap(0xffef0000, 4096, 4096);

    [Fact]
    public void Kernel_mode_reports_the_unbalanced_unmap_of_the_error_path()
    {
        var report = FailedHalfMap(CheckMode.Kernel).Report();

        var f = Assert.Single(report.Findings);
        Assert.Equal("unbalanced-unmap", f.Kind);
        Assert.Equal("0x1234", f.Pfn);
        Assert.Contains(f.Notes, n => n.Contains("CVE-2026-64152", StringComparison.Ordinal));
    }

    [Fact]
    public void Precise_mode_knows_nothing_was_counted()
    {
        var report = FailedHalfMap(CheckMode.Precise).Report();

        Assert.Empty(report.Findings);
        Assert.Equal(1, report.Statistics.MapErrorPathUnmaps);
    }

    [Fact]
    public void An_unmap_of_a_pre_trace_mapping_after_a_completed_map_is_not_an_error_path()
    {
        var report = new SyntheticTrace(CheckMode.Kernel)
            .ProbeMap(0xd1, 0xffef0000, 0x1234000, 4096).Map(0xffef0000, 0x1234000, 4096)
            .ProbeUnmap(0xd1, 0xffef0000, 4096).Unmap(0xffef0000, 4096, 4096)
            .ProbeUnmap(0xd1, 0xfffff000, 4096).Unmap(0xfffff000, 4096, 4096)
            .Free(0x1234)
            .Report();

        Assert.Empty(report.Findings);
        Assert.Equal(0, report.Statistics.MapErrorPathUnmaps);
        Assert.Equal(1, report.Statistics.UnmapsOfUnseenMappings);
    }
}
