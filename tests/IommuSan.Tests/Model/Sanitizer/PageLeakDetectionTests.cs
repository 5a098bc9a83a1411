using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>check_unmapped: a page allocated or freed while IOMMU-mapped is a "Detected page leak!".</summary>
public sealed class PageLeakDetectionTests
{
    private readonly ModelMachine _machine = new(PageSize.Shift4K, 16UL << 20, SanitizerMode.KernelExact);

    [Fact]
    public void Page_freed_while_mapped_is_reported_with_count_owner_and_mapping()
    {
        var domain = _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock, "0000:00:01.0");
        _machine.Allocator.NowNs = 15_276_200_000;
        var pfn = _machine.Allocator.AllocPages(0, Gfp.Kernel, "e1000e_test");
        _machine.Core.Map(domain, 0xffef_0000, _machine.Paddr(pfn), 0x1000);
        _machine.Allocator.NowNs = 15_360_938_000;

        _machine.Allocator.FreePages(pfn, 0);

        var leak = Assert.Single(_machine.Findings.Snapshot());
        Assert.Equal(FindingKind.PageLeak, leak.Kind);
        Assert.Equal(pfn, leak.Pfn);
        Assert.Equal(1, leak.Count);
        Assert.Equal(new IommuMappingRef(domain.Id, "0000:00:01.0", 0xffef_0000, _machine.Paddr(pfn), 0x1000), leak.Mapping);
        Assert.Equal("e1000e_test", leak.Owner!.Value.Who);
        Assert.Equal(15_276_200_000, leak.Owner.Value.AllocTimeNs);
    }

    [Fact]
    public void Page_unmapped_before_free_is_clean()
    {
        var domain = _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var pfn = _machine.Allocator.AllocPages(0, Gfp.Kernel, "clean");
        _machine.Core.Map(domain, 0xffee_f000, _machine.Paddr(pfn), 0x1000);
        _machine.Core.Unmap(domain, 0xffee_f000, 0x1000);

        _machine.Allocator.FreePages(pfn, 0);

        Assert.Equal(0, _machine.Findings.Count);
    }

    [Fact]
    public void Leaked_page_is_reported_again_at_each_later_allocation_and_free()
    {
        var domain = _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var pfn = _machine.Allocator.AllocPages(0, Gfp.Kernel, "leaker");
        _machine.Core.Map(domain, 0x1000, _machine.Paddr(pfn), 0x1000);
        _machine.Allocator.FreePages(pfn, 0);

        var reuse = _machine.Allocator.AllocPages(0, Gfp.Kernel, "pte_alloc");
        _machine.Allocator.FreePages(reuse, 0);

        Assert.Equal(pfn, reuse); // lowest address first: the leaked page is reused at once
        var leaks = _machine.Findings.Snapshot();
        Assert.Equal(3, leaks.Count);
        Assert.All(leaks, f => Assert.Equal((FindingKind.PageLeak, pfn), (f.Kind, f.Pfn)));
        Assert.Equal("pte_alloc", leaks[1].Owner!.Value.Who);
    }

    [Fact]
    public void Only_the_mapped_pages_of_a_freed_block_are_reported()
    {
        var domain = _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var pfn = _machine.Allocator.AllocPages(3, Gfp.Kernel, "ring");
        _machine.Core.Map(domain, 0x10000, _machine.Paddr(pfn + 2), 0x2000);

        Assert.Equal(2, _machine.Sanitizer.CheckUnmapped(pfn, 8));
        Assert.Equal([pfn + 2, pfn + 3], _machine.Findings.Snapshot().Select(f => f.Pfn));
    }

    [Fact]
    public void Check_returns_nothing_for_pages_without_counts_or_struct_page()
    {
        Assert.Equal(0, _machine.Sanitizer.CheckUnmapped(_machine.Pfn(ModelMachine.MmioBase), 1024));
        Assert.Equal(0, _machine.Sanitizer.CheckUnmapped(_machine.Pfn(ModelMachine.RamBase), 4096));
        Assert.Equal(0, _machine.Findings.Count);
    }
}
