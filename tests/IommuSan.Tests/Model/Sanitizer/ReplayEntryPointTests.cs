using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>
/// The hooks as a trace replay drives them: an unknown memory map, a mirror page table, and
/// iommu:map / iommu:unmap(iova, size, unmapped_size) events applied without the IOMMU core.
/// </summary>
public sealed class ReplayEntryPointTests
{
    private sealed class Replay(SanitizerMode mode)
    {
        public PageExt PageExt { get; } = PageExt.ForUnknownMemoryMap(PageSize.Shift4K);

        public FindingList Findings { get; } = new();

        public IommuDebugPagealloc Sanitizer { get; private set; } = null!;

        // The mirror: a 4K-only table accepts whatever the trace shows at any 4K-aligned paddr.
        public IommuDomain Domain { get; } = new(1, PageSizes.Size4K, UnmapBehaviour.RefusePartialBlock, name: "mirror");

        public Replay Boot()
        {
            Sanitizer = new IommuDebugPagealloc(PageExt, mode, Findings) { ResolveMappings = true };
            return this;
        }

        public void MapEvent(ulong iova, ulong paddr, ulong size)
        {
            Domain.PageTable.Map(iova, paddr, size, out _);
            Sanitizer.Map(Domain, paddr, size, iova);
        }

        public void UnmapEvent(ulong iova, ulong size, ulong unmappedSize)
        {
            Sanitizer.UnmapBegin(Domain, iova, size, unmappedSize);
            var (start, length) = IommuDebugPagealloc.RemovedRange(iova, size, unmappedSize);
            Domain.PageTable.Unmap(start, length);
            Sanitizer.UnmapEnd(Domain, iova, size, unmappedSize);
        }
    }

    [Fact]
    public void Leak_from_the_real_capture_is_found_through_the_hooks_alone()
    {
        // samples/tracepoints-page_uaf-clean: pfn 0xf34a mapped at iova 0xffef0000, freed unmapped never.
        var replay = new Replay(SanitizerMode.KernelExact).Boot();
        replay.MapEvent(0xffef_0000, 0xf34a_000, 0x1000);
        replay.MapEvent(0xffee_f000, 0xf806_000, 0x1000);
        replay.UnmapEvent(0xffee_f000, 0x1000, 0x1000);

        Assert.Equal(1, replay.Sanitizer.CheckUnmapped(0xf34a, 1));
        Assert.Equal(0, replay.Sanitizer.CheckUnmapped(0xf806, 1));
        var leak = Assert.Single(replay.Findings.Snapshot());
        Assert.Equal((0xf34aUL, 1, (ulong?)0xffef_0000), (leak.Pfn, leak.Count, leak.Mapping!.Value.Iova));
        Assert.Equal(1, replay.PageExt.SectionsAllocated);
    }

    [Fact]
    public void Vtd_2M_unmap_seen_in_a_trace_is_fully_accounted_in_precise_mode()
    {
        // Linux 7.2 VT-d: map 2M, then `unmap size=4096 unmapped_size=2097152`, then the rest shows 0.
        var replay = new Replay(SanitizerMode.Precise).Boot();
        replay.MapEvent(0x20_0000, 0x1_0020_0000, 0x20_0000);

        replay.UnmapEvent(0x20_0000, 0x1000, 0x20_0000);
        replay.UnmapEvent(0x20_1000, 0x1F_F000, 0);

        Assert.Equal(0, replay.Sanitizer.CheckUnmapped(0x10_0200, 512));
        Assert.Equal(FindingKind.UnmappedMoreThanRequested, Assert.Single(replay.Findings.Snapshot()).Kind);
    }

    [Fact]
    public void Vtd_2M_unmap_seen_in_a_trace_reproduces_the_kernels_511_false_leaks_in_kernel_exact_mode()
    {
        var replay = new Replay(SanitizerMode.KernelExact).Boot();
        replay.MapEvent(0x20_0000, 0x1_0020_0000, 0x20_0000);

        replay.UnmapEvent(0x20_0000, 0x1000, 0x20_0000);
        replay.UnmapEvent(0x20_1000, 0x1F_F000, 0);

        Assert.Equal(511, replay.Sanitizer.CheckUnmapped(0x10_0200, 512));
    }

    [Fact]
    public void Removed_range_of_an_oversized_unmap_is_the_aligned_block_around_iova()
    {
        Assert.Equal((0x20_0000UL, 0x20_0000UL), IommuDebugPagealloc.RemovedRange(0x20_3000, 0x1000, 0x20_0000));
        Assert.Equal((0x20_3000UL, 0x1000UL), IommuDebugPagealloc.RemovedRange(0x20_3000, 0x2000, 0x1000));
        Assert.Equal((0x20_3000UL, 0x3000UL), IommuDebugPagealloc.RemovedRange(0x20_3000, 0x2000, 0x3000));
    }

    [Fact]
    public void Mmio_marked_by_the_replay_is_skipped()
    {
        var replay = new Replay(SanitizerMode.Precise).Boot();
        replay.PageExt.MarkNoStructPage(0xfe00_0000 >> 12, 0x10_0000 >> 12); // dma_map_resource of a BAR

        replay.MapEvent(0x1000, 0xfe00_0000, 0x4000);

        Assert.Equal(0, replay.Sanitizer.GetCount(0xfe000));
        Assert.Equal(0, replay.Sanitizer.CheckUnmapped(0xfe000, 4));
        Assert.False(replay.PageExt.HasStructPage(0xfe003));
        Assert.True(replay.PageExt.HasStructPage(0xfe100)); // the rest of that section is still RAM
    }

    [Fact]
    public void Unmap_of_a_mapping_made_before_the_capture_changes_nothing()
    {
        var replay = new Replay(SanitizerMode.KernelExact).Boot();

        replay.UnmapEvent(0xffff_0000, 0x1000, 0x1000);

        Assert.Equal(0, replay.Findings.Count);
        Assert.Equal(0, replay.PageExt.SectionsAllocated);
    }
}
