using IommuSan.Replay;

namespace IommuSan.Tests.Check.Synthetic;

/// <summary>Each finding kind, from a small synthetic trace replayed through the real model.</summary>
public sealed class FindingKindsTests
{
    private const string Nic = "0000:00:01.0";
    private const string Disk = "0000:00:03.0";

    [Fact]
    public void Page_freed_while_mapped_is_a_page_leak_naming_device_iova_and_owner()
    {
        var report = new SyntheticTrace()
            .Alloc(0x1234)
            .Map(0xffef0000, 0x1234000, 4096).DmaMapPage(Nic, 0xffef0000, 0x1234000, 4096)
            .Free(0x1234)
            .Report();

        var f = Assert.Single(report.Findings);
        Assert.Equal("page-leak", f.Kind);
        Assert.Equal("0x1234", f.Pfn);
        Assert.Equal("mm_page_free", f.Event.Event);
        var m = Assert.Single(f.Mappings);
        Assert.Equal(Nic, m.Device);
        Assert.Equal("0xffef0000", m.Iova);
        Assert.Equal("dma-event", m.Attribution);
        Assert.NotNull(f.Owner);
        Assert.Equal("0x1234", f.Owner!.Pfn);
        Assert.Equal(1, report.Summary.ExitCode);
    }

    [Fact]
    public void Unmap_before_free_is_clean_and_the_live_mapping_is_only_informational()
    {
        var report = new SyntheticTrace()
            .Alloc(0x1234)
            .Map(0xffef0000, 0x1234000, 4096).DmaMapPage(Nic, 0xffef0000, 0x1234000, 4096)
            .Unmap(0xffef0000, 4096, 4096).DmaUnmapPage(Nic, 0xffef0000, 4096)
            .Free(0x1234)
            .Map(0xffee0000, 0x5555000, 4096).DmaMapPage(Nic, 0xffee0000, 0x5555000, 4096)
            .Report();

        Assert.Empty(report.Findings);
        Assert.Equal(0, report.Summary.ExitCode);
        var live = Assert.Single(report.LiveAtEnd);
        Assert.Equal("0xffee0000", live.Iova);
        Assert.Equal(1, report.Summary.ByKind["live-at-end"]);
    }

    [Fact]
    public void Leak_reports_the_exposure_window_when_the_mapping_is_removed_later()
    {
        var report = new SyntheticTrace()
            .Map(0xffef0000, 0x1234000, 4096).DmaMapPage(Nic, 0xffef0000, 0x1234000, 4096)
            .Free(0x1234)
            .After(5_000_000)
            .Unmap(0xffef0000, 4096, 4096).DmaUnmapPage(Nic, 0xffef0000, 4096)
            .Free(0x1234)
            .Report();

        var f = Assert.Single(report.Findings);
        Assert.Null(f.Owner);
        Assert.False(f.OwnerSeen);
        Assert.NotNull(f.ExposureNs);
        Assert.InRange(f.ExposureNs!.Value, 5_000_000, 5_010_000);
        Assert.Equal(0, f.LaterEventsTotal);
    }

    [Fact]
    public void A_batched_free_after_the_free_of_the_same_pfn_is_one_free_not_two()
    {
        var report = new SyntheticTrace()
            .Map(0xffef0000, 0x1234000, 4096).DmaMapPage(Nic, 0xffef0000, 0x1234000, 4096)
            .Free(0x1234).Free(0x999).FreeBatched(0x999).FreeBatched(0x1234)
            .Report();

        var f = Assert.Single(report.Findings);
        Assert.Equal(0, f.LaterEventsTotal);
        Assert.Equal(2, report.Statistics.BatchedFreesFolded);
    }

    [Fact]
    public void Unmaps_of_mappings_made_before_the_trace_are_not_unbalanced()
    {
        var report = new SyntheticTrace()
            .Unmap(0xfffff000, 4096, 4096).DmaUnmapPage(Nic, 0xfffff000, 4096)
            .Unmap(0xffffe000, 4096, 4096)
            .Free(0x4321)
            .Report();

        Assert.Empty(report.Findings);
        Assert.Equal(2, report.Statistics.UnmapsOfUnseenMappings);
        Assert.Contains(report.Diagnostics, d => d.Kind == "trace-starts-mid-life");
    }

    [Fact]
    public void A_failed_map_leaves_an_empty_unmap_that_is_not_a_finding()
    {
        var report = new SyntheticTrace().Unmap(0xffef0000, 0, 0).Free(0x1234).Report();

        Assert.Empty(report.Findings);
        Assert.Equal(1, report.Statistics.FailedMapUnwinds);
    }

    [Fact]
    public void A_map_of_physical_address_zero_is_an_invalid_map()
    {
        var report = new SyntheticTrace().Map(0xffef0000, 0, 4096).DmaMapPage(Nic, 0xffef0000, 0, 4096).Report();

        var f = Assert.Single(report.Findings);
        Assert.Equal("invalid-map", f.Kind);
        Assert.Equal(1, report.Summary.ExitCode);
    }

    [Fact]
    public void Unmapped_more_than_requested_is_reported()
    {
        var report = new SyntheticTrace()
            .ProbeMap(0xd1, 0x40000000, 0x80000000, 0x200000).Map(0x40000000, 0x80000000, 0x200000)
            .ProbeUnmap(0xd1, 0x40000000, 4096).Unmap(0x40000000, 4096, 0x200000)
            .Report();

        Assert.Contains(report.Findings, f => f.Kind == "unmapped-more-than-requested");
    }

    [Fact]
    public void A_long_scatter_gather_map_waits_for_its_dma_event_while_other_devices_map_inside_it()
    {
        // NVMe maps two chunks; a softirq on the same CPU (same interrupted task) maps a NIC page whose IOVA
        // falls inside the NVMe range, in the NIC's own domain; dma_map_sg arrives 20 ms later.
        var report = new SyntheticTrace()
            .Map(0xfff00000, 0x10000000, 4096)
            .After(1_000_000)
            .Map(0xfff01000, 0x20000000, 4096).DmaMapPage(Nic, 0xfff01000, 0x20000000, 4096)
            .Map(0xfff01000, 0x30000000, 4096)
            .After(20_000_000)
            .DmaMapSg(Disk, [0xfff00000], [8192], [0x10000000])
            .Free(0x20000)
            .DmaUnmapSg(Disk, [0x10000000]).Unmap(0xfff00000, 8192, 8192)
            .Free(0x10000).Free(0x30000)
            .Report();

        var f = Assert.Single(report.Findings);
        Assert.Equal("0x20000", f.Pfn);
        Assert.Equal(Nic, Assert.Single(f.Mappings).Device);
        Assert.DoesNotContain(report.Diagnostics, d => d.Kind == "map-over-live-iova");
        Assert.Equal(0, report.Statistics.Unattributed);
    }

    [Fact]
    public void Kprobe_domain_pointers_attribute_maps_and_a_dma_event_names_the_device()
    {
        var report = new SyntheticTrace()
            .ProbeMap(0xff00d1, 0xffef0000, 0x1234000, 4096).Map(0xffef0000, 0x1234000, 4096).DmaMapPage(Nic, 0xffef0000, 0x1234000, 4096)
            .Free(0x1234)
            .Report();

        var m = Assert.Single(Assert.Single(report.Findings).Mappings);
        Assert.Equal("0xff00d1", m.Domain);
        Assert.Equal("kprobe", m.Attribution);
        Assert.Equal(Nic, m.Device);
    }
}

/// <summary>Kprobe domain pointers are reused after iommu_domain_free: a reused pointer is a new domain.</summary>
public sealed class DomainLifetimeTests
{
    [Fact]
    public void A_freed_domain_pointer_reused_later_is_a_new_domain()
    {
        var report = new SyntheticTrace()
            .ProbeMap(0xd1, 0xffef0000, 0x1111000, 4096).Map(0xffef0000, 0x1111000, 4096)
            .DomainFree(0xd1)
            .ProbeMap(0xd1, 0xffef0000, 0x2222000, 4096).Map(0xffef0000, 0x2222000, 4096)
            .Report();

        Assert.DoesNotContain(report.Diagnostics, d => d.Kind == "map-over-live-iova");
        Assert.Equal(2, report.LiveAtEnd.Count);
        Assert.Equal(["0xd1", "0xd1#2"], report.LiveAtEnd.Select(m => m.DomainLabel));
    }
}
