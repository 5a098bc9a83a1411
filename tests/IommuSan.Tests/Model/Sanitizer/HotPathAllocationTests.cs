using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>
/// A replay pushes millions of events through the hooks: when nothing is found, map, unmap and
/// the check must not allocate (after the first touch of a section and the page-table warm-up).
/// </summary>
public sealed class HotPathAllocationTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Clean_map_unmap_and_check_allocate_nothing(bool precise)
    {
        var sanitizer = new IommuDebugPagealloc(PageExt.ForUnknownMemoryMap(PageSize.Shift4K),
            precise ? SanitizerMode.Precise : SanitizerMode.KernelExact, new FindingList());
        var domain = new IommuDomain(1, PageSizes.Size4K, UnmapBehaviour.RefusePartialBlock);

        void Round(int i)
        {
            var n = (ulong)(i & 63);
            var iova = 0xffef_0000 - (n << 12);
            var paddr = 0x1_0000_0000 + (n << 12);
            domain.PageTable.Map(iova, paddr, 0x1000, out _);
            sanitizer.Map(domain, paddr, 0x1000, iova);
            sanitizer.UnmapBegin(domain, iova, 0x1000, 0x1000);
            var unmapped = domain.PageTable.Unmap(iova, 0x1000);
            sanitizer.UnmapEnd(domain, iova, 0x1000, unmapped);
            sanitizer.CheckUnmapped(paddr >> 12, 1);
        }

        for (var i = 0; i < 256; i++)
        {
            Round(i); // first touch of the section, table pages, thread-static slot
        }

        Assert.Equal(0, LeastAllocated(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                Round(i);
            }
        }));
        Assert.Equal(0, sanitizer.GetCount(0x1_0000_0000 >> 12));
    }

    [Fact]
    public void Iommu_core_and_page_allocator_round_trips_allocate_nothing()
    {
        var machine = new ModelMachine(PageSize.Shift4K, 16UL << 20, SanitizerMode.Precise);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var buffer = machine.Paddr(machine.Allocator.AllocPages(9, Gfp.Kernel, "buffer")) + 0x1000;

        void Round()
        {
            machine.Core.Map(domain, 0x1_0000_0000, buffer, 1 << 20);
            machine.Core.Unmap(domain, 0x1_0000_0000, 1 << 20);
            var pfn = machine.Allocator.AllocPages(0, Gfp.Kernel, "skb");
            machine.Allocator.FreePages(pfn, 0);
        }

        for (var i = 0; i < 16; i++)
        {
            Round();
        }

        Assert.Equal(0, LeastAllocated(() =>
        {
            for (var i = 0; i < 200; i++)
            {
                Round();
            }
        }));
        Assert.Equal(0, machine.Findings.Count);
    }

    /// <summary>
    /// Bytes this thread allocates running <paramref name="rounds"/>, the least of three runs: a garbage
    /// collection started by a test running in parallel can shift this thread's allocation counter once,
    /// while a real allocation in the hot path shows in every run.
    /// </summary>
    private static long LeastAllocated(Action rounds)
    {
        var least = long.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            rounds();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}
