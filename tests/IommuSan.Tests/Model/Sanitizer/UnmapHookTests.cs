using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>unmap_begin / unmap_end: decrement through iova_to_phys before the unmap, fix up after it.</summary>
public sealed class UnmapHookTests
{
    private const ulong Paddr = ModelMachine.RamBase + 0x20_0000;

    public static TheoryData<bool> Modes => new() { false, true };

    private static ModelMachine NewMachine(bool precise) =>
        new(PageSize.Shift4K, 64UL << 20, precise ? SanitizerMode.Precise : SanitizerMode.KernelExact);

    [Theory]
    [MemberData(nameof(Modes))]
    public void Unmap_of_what_was_mapped_brings_counts_back_to_zero(bool precise)
    {
        var machine = NewMachine(precise);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        machine.Core.Map(domain, 0x40_0000, Paddr, 0x40_0000); // two 2M blocks

        Assert.Equal(0x40_0000UL, machine.Core.Unmap(domain, 0x40_0000, 0x40_0000));

        Assert.Equal(0, machine.PageExt.SectionForRead(machine.Pfn(Paddr))!.Counts.Sum());
        Assert.Equal(0, machine.Findings.Count);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Unmap_over_a_hole_lowers_only_what_was_mapped_and_recounts_the_tail(bool precise)
    {
        var machine = NewMachine(precise);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.RefusePartialBlock);
        machine.Core.Map(domain, 0x10000, Paddr, 0x2000);
        machine.Core.Map(domain, 0x13000, Paddr + 0x3000, 0x1000); // hole at 0x12000

        Assert.Equal(0x2000UL, machine.Core.Unmap(domain, 0x10000, 0x4000));

        // The page behind the hole's far side is still mapped and still counted.
        Assert.Equal(0, machine.Sanitizer.GetCount(machine.Pfn(Paddr)));
        Assert.Equal(1, machine.Sanitizer.GetCount(machine.Pfn(Paddr + 0x3000)));
        Assert.Equal(0, machine.Findings.Count);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Refused_partial_block_unmap_keeps_the_block_counted(bool precise)
    {
        var machine = NewMachine(precise);
        var domain = machine.NewDomain(IommuDomain.ArmLpae4KPgsizeBitmap, UnmapBehaviour.RefusePartialBlock);
        machine.Core.Map(domain, 0x20_0000, Paddr, PageSizes.Size2M);

        Assert.Equal(0UL, machine.Core.Unmap(domain, 0x20_1000, 0x2000));

        var pfn = machine.Pfn(Paddr);
        Assert.All(Enumerable.Range(0, 512), i => Assert.Equal(1, machine.Sanitizer.GetCount(pfn + (ulong)i)));
        Assert.Equal(0, machine.Findings.Count);
    }

    [Fact]
    public void Unmapping_a_mapping_the_sanitizer_never_counted_is_an_unbalanced_unmap()
    {
        var machine = NewMachine(precise: false);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        domain.PageTable.Map(0x7000, Paddr, 0x1000, out _); // behind the sanitizer's back

        machine.Core.Unmap(domain, 0x7000, 0x1000);

        var finding = Assert.Single(machine.Findings.Snapshot());
        Assert.Equal(FindingKind.UnbalancedUnmap, finding.Kind);
        Assert.Equal(machine.Pfn(Paddr), finding.Pfn);
        Assert.Equal(-1, finding.Count);
        Assert.Equal(0x7000UL, finding.Mapping!.Value.Iova);
    }

    [Fact]
    public void Iova_plus_size_overflow_is_an_invalid_unmap()
    {
        var machine = NewMachine(precise: false);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);

        machine.Sanitizer.UnmapBegin(domain, 0xffff_ffff_ffff_f000, 0x2000);
        machine.Sanitizer.UnmapEnd(domain, 0xffff_ffff_ffff_f000, 0x2000, 0);

        Assert.Equal(FindingKind.InvalidUnmap, Assert.Single(machine.Findings.Snapshot()).Kind);
    }

    [Fact]
    public void Vtd_whole_block_unmap_leaves_511_stale_counts_in_kernel_exact_mode_and_false_leaks_at_free()
    {
        // The reference's observation on Linux 7.2: a 4K unmap inside a 2M mapping returns 2M.
        var machine = NewMachine(precise: false);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var pfn = AllocAligned2M(machine);
        machine.Core.Map(domain, 0x20_0000, machine.Paddr(pfn), PageSizes.Size2M);

        Assert.Equal(PageSizes.Size2M, machine.Core.Unmap(domain, 0x20_0000, 0x1000));
        Assert.Equal(0UL, machine.Core.Unmap(domain, 0x20_1000, 0x1F_F000));

        Assert.Equal(0, machine.Sanitizer.GetCount(pfn));
        Assert.Equal(1, machine.Sanitizer.GetCount(pfn + 1));
        Assert.Equal(511, Enumerable.Range(0, 512).Count(i => machine.Sanitizer.GetCount(pfn + (ulong)i) != 0));

        machine.Findings.Clear();
        machine.Allocator.FreePages(pfn, 9);
        var leaks = machine.Findings.Snapshot();
        Assert.Equal(511, leaks.Count(f => f.Kind == FindingKind.PageLeak));
        Assert.All(leaks, f => Assert.Null(f.Mapping)); // no device can reach them: false positives
    }

    [Fact]
    public void Vtd_whole_block_unmap_is_fully_accounted_in_precise_mode()
    {
        var machine = NewMachine(precise: true);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var pfn = AllocAligned2M(machine);
        machine.Core.Map(domain, 0x20_0000, machine.Paddr(pfn), PageSizes.Size2M);

        Assert.Equal(PageSizes.Size2M, machine.Core.Unmap(domain, 0x20_0000, 0x1000));
        machine.Core.Unmap(domain, 0x20_1000, 0x1F_F000);
        machine.Allocator.FreePages(pfn, 9);

        Assert.All(Enumerable.Range(0, 512), i => Assert.Equal(0, machine.Sanitizer.GetCount(pfn + (ulong)i)));
        var warn = Assert.Single(machine.Findings.Snapshot());
        Assert.Equal(FindingKind.UnmappedMoreThanRequested, warn.Kind);
        Assert.Equal(PageSizes.Size2M, warn.Unmapped);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Unmapped_more_than_requested_is_reported_once_per_sanitizer(bool precise)
    {
        var machine = NewMachine(precise);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        for (ulong i = 0; i < 3; i++)
        {
            machine.Core.Map(domain, 0x20_0000 * (i + 1), Paddr + (0x20_0000 * i), PageSizes.Size2M);
            machine.Core.Unmap(domain, 0x20_0000 * (i + 1), 0x1000);
        }

        Assert.Equal(1, machine.Findings.CountOf(FindingKind.UnmappedMoreThanRequested));
    }

    private static ulong AllocAligned2M(ModelMachine machine)
    {
        var pfn = machine.Allocator.AllocPages(9, Gfp.Kernel, "dma_alloc_pages");
        machine.Findings.Clear();
        return pfn;
    }
}
