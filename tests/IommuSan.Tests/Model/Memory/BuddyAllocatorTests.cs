using IommuSan.Model;
using IommuSan.Model.Memory;

namespace IommuSan.Tests.Model.Memory;

/// <summary>The buddy page allocator: split, merge, page owner, and the debug_pagealloc hook.</summary>
public sealed class BuddyAllocatorTests
{
    private const ulong RamBase = 0x8000_0000;
    private const ulong RamPfn = RamBase >> 12;

    private sealed class RecordingHook : IDebugPageallocHook
    {
        public List<(ulong Pfn, int NumPages)> Calls { get; } = [];

        public int CheckUnmapped(ulong pfn, int numPages)
        {
            Calls.Add((pfn, numPages));
            return 0;
        }
    }

    private static PageAllocator NewAllocator(ulong ramBytes, IDebugPageallocHook? hook = null) =>
        new(new PhysicalMemory(PageSize.Shift4K, [new PhysicalRange(RamBase, ramBytes, PhysicalRangeKind.Ram)]), new PageOwner(), hook);

    [Fact]
    public void Allocations_split_blocks_lowest_address_first()
    {
        var allocator = NewAllocator(16UL << 20);

        var a = allocator.AllocPages(0, Gfp.Kernel, "a");
        var b = allocator.AllocPages(0, Gfp.Kernel, "b");
        var c = allocator.AllocPages(2, Gfp.Kernel, "c");

        Assert.Equal(RamPfn, a);
        Assert.Equal(RamPfn + 1, b);
        Assert.Equal(RamPfn + 4, c); // order-2 blocks are 4-page aligned
        Assert.Equal(4096 - 6, allocator.FreePageCount);
    }

    [Fact]
    public void Freed_buddies_merge_back_into_a_max_order_block()
    {
        var allocator = NewAllocator(4UL << 20); // exactly one order-10 block
        var pfns = Enumerable.Range(0, 8).Select(_ => allocator.AllocPages(0, Gfp.Kernel, "t")).ToArray();

        Assert.False(allocator.TryAllocPages(10, Gfp.Kernel, "big", out _));
        foreach (var pfn in pfns.Reverse())
        {
            allocator.FreePages(pfn, 0);
        }

        Assert.Equal(1024, allocator.FreePageCount);
        Assert.True(allocator.TryAllocPages(10, Gfp.Kernel, "big", out var big));
        Assert.Equal(RamPfn, big);
    }

    [Fact]
    public void Out_of_memory_returns_false()
    {
        var allocator = NewAllocator(4UL << 20);
        allocator.AllocPages(10, Gfp.Kernel, "all");

        Assert.False(allocator.TryAllocPages(0, Gfp.Kernel, "more", out _));
    }

    [Fact]
    public void Double_free_and_wrong_order_are_caller_errors()
    {
        var allocator = NewAllocator(4UL << 20);
        var pfn = allocator.AllocPages(1, Gfp.Kernel, "t");

        var wrongOrder = Assert.Throws<InvalidOperationException>(() => allocator.FreePages(pfn, 0));
        Assert.Contains($"0x{pfn:x}", wrongOrder.Message, StringComparison.Ordinal);
        allocator.FreePages(pfn, 1);
        Assert.Throws<InvalidOperationException>(() => allocator.FreePages(pfn, 1));
        Assert.Throws<InvalidOperationException>(() => allocator.FreePages(0x10, 0));
    }

    [Fact]
    public void Page_owner_records_order_gfp_who_and_when()
    {
        var allocator = NewAllocator(4UL << 20);
        allocator.NowNs = 1_000;
        var pfn = allocator.AllocPages(2, Gfp.Kernel | Gfp.Dma32, "nvme_alloc_queue");
        allocator.NowNs = 5_000;

        Assert.True(allocator.Owner.TryGet(pfn + 3, out var live));
        Assert.Equal(new PageOwnerRecord(pfn, 2, Gfp.Kernel | Gfp.Dma32, "nvme_alloc_queue", 1_000, null), live);

        allocator.FreePages(pfn, 2);
        Assert.True(allocator.Owner.TryGet(pfn + 1, out var freed));
        Assert.Equal(5_000, freed.FreeTimeNs);

        var reused = allocator.AllocPages(0, Gfp.Atomic, "skb");
        Assert.Equal(pfn, reused);
        Assert.True(allocator.Owner.TryGet(pfn, out var now));
        Assert.Equal("skb", now.Who);
        Assert.False(allocator.Owner.TryGet(pfn + 1, out _));
    }

    [Fact]
    public void Debug_pagealloc_hook_sees_every_block_allocated_and_freed()
    {
        var hook = new RecordingHook();
        var allocator = NewAllocator(4UL << 20, hook);

        var a = allocator.AllocPages(3, Gfp.Kernel, "t");
        allocator.FreePages(a, 3);

        Assert.Equal([(a, 8), (a, 8)], hook.Calls);
    }
}
