using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>
/// IOMMU granule vs CPU page size, side by side in both modes. Smaller granule: a CPU page is
/// counted once per granule, consistently. Larger granule: kernel-exact counts only the first CPU
/// page of each granule (blind spots); precise counts every CPU page.
/// </summary>
public sealed class GranuleMismatchTests
{
    private static ModelMachine NewMachine(int pageShift, bool precise) =>
        new(pageShift, 64UL << 20, precise ? SanitizerMode.Precise : SanitizerMode.KernelExact);

    [Theory]
    [InlineData(PageSize.Shift16K, false, 4)]
    [InlineData(PageSize.Shift16K, true, 4)]
    [InlineData(PageSize.Shift64K, false, 16)]
    [InlineData(PageSize.Shift64K, true, 16)]
    public void Four_k_iommu_on_large_cpu_pages_counts_each_granule_and_balances(int pageShift, bool precise, int perPage)
    {
        var machine = NewMachine(pageShift, precise);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.RefusePartialBlock);
        var pfn = machine.Allocator.AllocPages(0, Gfp.Kernel, "buf");

        machine.Core.Map(domain, 0x10_0000, machine.Paddr(pfn), machine.PageSizeBytes);
        Assert.Equal(perPage, machine.Sanitizer.GetCount(pfn));

        // Unmapping all but the first 4K granule still leaves the page mapped: a leak at free.
        machine.Core.Unmap(domain, 0x10_1000, machine.PageSizeBytes - 0x1000);
        Assert.Equal(1, machine.Sanitizer.GetCount(pfn));
        machine.Allocator.FreePages(pfn, 0);
        Assert.Equal((FindingKind.PageLeak, pfn, 1), Assert.Single(machine.Findings.Snapshot()) is var f ? (f.Kind, f.Pfn, f.Count) : default);

        machine.Core.Unmap(domain, 0x10_0000, 0x1000);
        Assert.Equal(0, machine.Sanitizer.GetCount(pfn));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Sub_page_mapping_on_16K_pages_counts_the_page_it_lies_in(bool precise)
    {
        var machine = NewMachine(PageSize.Shift16K, precise);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.RefusePartialBlock);
        var pfn = machine.Allocator.AllocPages(0, Gfp.Kernel, "small_dma");

        machine.Core.Map(domain, 0x2000, machine.Paddr(pfn) + 0x3000, 0x1000); // last 4K of the 16K page
        machine.Allocator.FreePages(pfn, 0);

        Assert.Equal(pfn, Assert.Single(machine.Findings.Snapshot()).Pfn);
    }

    [Fact]
    public void Sixty_four_k_granule_on_4K_pages_kernel_exact_misses_all_but_the_first_page()
    {
        var machine = NewMachine(PageSize.Shift4K, precise: false);
        var domain = machine.NewDomain(IommuDomain.ArmLpae64KPgsizeBitmap, UnmapBehaviour.RefusePartialBlock);
        var pfn = machine.Allocator.AllocPages(4, Gfp.Kernel, "buf64k"); // 16 CPU pages, 64K aligned
        machine.Core.Map(domain, 0x10_0000, machine.Paddr(pfn), 0x10000);

        Assert.Equal(1, machine.Sanitizer.GetCount(pfn));
        Assert.All(Enumerable.Range(1, 15), i => Assert.Equal(0, machine.Sanitizer.GetCount(pfn + (ulong)i)));

        // The driver frees the block and the second page ends up on its own: the blind spot.
        Assert.Equal(0, machine.Sanitizer.CheckUnmapped(pfn + 1, 15));
        Assert.Equal(1, machine.Sanitizer.CheckUnmapped(pfn, 16));
    }

    [Fact]
    public void Sixty_four_k_granule_on_4K_pages_precise_sees_every_page()
    {
        var machine = NewMachine(PageSize.Shift4K, precise: true);
        var domain = machine.NewDomain(IommuDomain.ArmLpae64KPgsizeBitmap, UnmapBehaviour.RefusePartialBlock);
        var pfn = machine.Allocator.AllocPages(4, Gfp.Kernel, "buf64k");
        machine.Core.Map(domain, 0x10_0000, machine.Paddr(pfn), 0x10000);

        Assert.All(Enumerable.Range(0, 16), i => Assert.Equal(1, machine.Sanitizer.GetCount(pfn + (ulong)i)));
        Assert.Equal(15, machine.Sanitizer.CheckUnmapped(pfn + 1, 15));

        machine.Findings.Clear();
        machine.Core.Unmap(domain, 0x10_0000, 0x10000);
        machine.Allocator.FreePages(pfn, 4);
        Assert.Equal(0, machine.Findings.Count);
    }
}
