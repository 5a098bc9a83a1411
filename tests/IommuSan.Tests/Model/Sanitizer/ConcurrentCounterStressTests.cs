using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>
/// Counters are updated lock-free from several CPUs at once (relaxed atomics in the kernel): no
/// update may be lost, whatever the interleaving.
/// </summary>
public sealed class ConcurrentCounterStressTests
{
    private const int Threads = 4;
    private const int Rounds = 2_000;
    private const int Pages = 64;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Parallel_map_unmap_of_shared_pages_never_corrupts_counters(bool precise)
    {
        var machine = new ModelMachine(PageSize.Shift4K, 16UL << 20, precise ? SanitizerMode.Precise : SanitizerMode.KernelExact);
        var pfn = machine.Allocator.AllocPages(6, Gfp.Kernel, "shared");
        var paddr = machine.Paddr(pfn);

        // One domain per thread (a device each); all map the same 64 pages, as shared buffers are.
        var domains = Enumerable.Range(0, Threads).Select(_ => machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock)).ToArray();
        using var start = new Barrier(Threads);
        var workers = domains.Select((domain, t) => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (var round = 0; round < Rounds; round++)
            {
                var page = (ulong)((round * 7) + t) % Pages;
                var pages = 1 + ((ulong)round % 4);
                pages = Math.Min(pages, Pages - page);
                var iova = 0x1000_0000 + (page << 12);
                Assert.Equal(IommuStatus.Ok, machine.Core.Map(domain, iova, paddr + (page << 12), pages << 12));
                Assert.Equal(pages << 12, machine.Core.Unmap(domain, iova, pages << 12));
            }

            // Leave one mapping of every page per thread: the final count must be exactly Threads.
            Assert.Equal(IommuStatus.Ok, machine.Core.Map(domain, 0x2000_0000, paddr, Pages << 12));
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(workers);

        Assert.All(Enumerable.Range(0, Pages), i => Assert.Equal(Threads, machine.Sanitizer.GetCount(pfn + (ulong)i)));
        Assert.Equal(0, machine.Findings.Count);

        foreach (var domain in domains)
        {
            machine.Core.Unmap(domain, 0x2000_0000, Pages << 12);
        }

        machine.Allocator.FreePages(pfn, 6);
        Assert.Equal(0, machine.Findings.Count);
    }

    [Fact]
    public void Parallel_first_touches_in_an_unknown_memory_map_lose_no_counts()
    {
        var ext = PageExt.ForUnknownMemoryMap(PageSize.Shift4K);
        var findings = new FindingList();
        var sanitizer = new IommuDebugPagealloc(ext, SanitizerMode.KernelExact, findings);
        var domains = Enumerable.Range(0, Threads).Select(i => new IommuDomain(i, PageSizes.Size4K, UnmapBehaviour.RefusePartialBlock)).ToArray();

        // Every thread maps the same pages of 8 fresh sections at once: sections are created racing.
        Parallel.For(0, Threads, t =>
        {
            for (ulong s = 0; s < 8; s++)
            {
                var paddr = (s + 1) << 27;
                sanitizer.Map(domains[t], paddr, 0x10000, paddr);
            }
        });

        Assert.Equal(8, ext.SectionsAllocated);
        for (ulong s = 0; s < 8; s++)
        {
            Assert.All(Enumerable.Range(0, 16), i => Assert.Equal(Threads, sanitizer.GetCount(((s + 1) << 15) + (ulong)i)));
        }

        Assert.Equal(0, findings.Count);
    }
}
