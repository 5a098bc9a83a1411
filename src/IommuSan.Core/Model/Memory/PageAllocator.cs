namespace IommuSan.Model.Memory;

/// <summary>gfp flags the model cares about (include/linux/gfp_types.h values for 6.x/7.x).</summary>
internal static class Gfp
{
    public const uint Kernel = 0xCC0;
    public const uint Atomic = 0x820;
    public const uint Dma32 = 0x04;
}

/// <summary>
/// A buddy page allocator over the RAM ranges of a <see cref="PhysicalMemory"/>: free lists per
/// order 0..<see cref="MaxOrder"/>, blocks split on allocation and merged with their buddy
/// (pfn ^ 2^order) on free, as mm/page_alloc.c does. Each allocation is recorded in
/// <see cref="PageOwner"/>, and the <see cref="IDebugPageallocHook"/> sees every block allocated and
/// freed, like the kernel's debug_pagealloc map/unmap hooks. Not thread-safe: the model serialises
/// it as the zone lock does.
/// </summary>
/// <remarks>
/// Free lists are intrusive (next/prev indices per page, like struct page's lru), so allocating and
/// freeing allocate nothing. Lower addresses are handed out first, which keeps tests predictable.
/// </remarks>
internal sealed class PageAllocator
{
    public const int MaxOrder = PageOwner.MaxOrder;

    private const int None = -1;

    private readonly Zone[] _zones;
    private readonly IDebugPageallocHook? _hook;

    public PageAllocator(PhysicalMemory memory, PageOwner owner, IDebugPageallocHook? hook)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(owner);
        Memory = memory;
        Owner = owner;
        _hook = hook;
        _zones = memory.RamRanges
            .Select(r => new Zone(r.Start >> memory.PageShift, (int)checked((long)(r.Size >> memory.PageShift))))
            .ToArray();
        foreach (var zone in _zones)
        {
            zone.SeedFreeLists();
        }
    }

    public PhysicalMemory Memory { get; }

    public PageOwner Owner { get; }

    /// <summary>The model's clock (local_clock): callers advance it; page owner records read it.</summary>
    public long NowNs { get; set; }

    public long FreePageCount => _zones.Sum(z => z.FreePages);

    /// <summary>
    /// Allocates 2^<paramref name="order"/> contiguous pages (alloc_pages). Returns false when no
    /// block is free, as the kernel returns NULL.
    /// </summary>
    public bool TryAllocPages(int order, uint gfpFlags, string who, out ulong pfn)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(order);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(order, MaxOrder);
        ArgumentNullException.ThrowIfNull(who);
        foreach (var zone in _zones)
        {
            if (zone.TryAlloc(order, out pfn))
            {
                Owner.SetAllocated(pfn, order, gfpFlags, who, NowNs);

                // post_alloc_hook -> debug_pagealloc_map_pages: the check sees the new block.
                _hook?.CheckUnmapped(pfn, 1 << order);
                return true;
            }
        }

        pfn = 0;
        return false;
    }

    public ulong AllocPages(int order, uint gfpFlags, string who) =>
        TryAllocPages(order, gfpFlags, who, out var pfn)
            ? pfn
            : throw new InvalidOperationException($"Out of memory for an order-{order} allocation.");

    /// <summary>
    /// Frees a block (__free_pages). Freeing a block that is not allocated with this order is a
    /// broken caller contract and throws.
    /// </summary>
    public void FreePages(ulong pfn, int order)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(order);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(order, MaxOrder);
        var zone = ZoneOf(pfn, order)
            ?? throw new InvalidOperationException($"pfn 0x{pfn:x} order {order} is not RAM managed by this allocator.");
        zone.CheckAllocated(pfn, order);

        // End of free_pages_prepare -> debug_pagealloc_unmap_pages: check before the block is reusable.
        _hook?.CheckUnmapped(pfn, 1 << order);
        Owner.SetFreed(pfn, NowNs);
        zone.Free(pfn, order);
    }

    public bool IsAllocated(ulong pfn)
    {
        var zone = ZoneOf(pfn, 0);
        return zone is not null && zone.IsAllocated(pfn);
    }

    private Zone? ZoneOf(ulong pfn, int order)
    {
        foreach (var zone in _zones)
        {
            if (pfn >= zone.StartPfn && pfn + (1UL << order) <= zone.StartPfn + (ulong)zone.Pages)
            {
                return zone;
            }
        }

        return null;
    }

    /// <summary>One contiguous RAM range with its own free lists (a zone, without zone types).</summary>
    private sealed class Zone
    {
        private readonly int[] _next;
        private readonly int[] _prev;

        // Per page: the order of the free block it heads, FreeTail inside a free block, Allocated
        // for the head of an allocated block (order in _allocOrder), AllocTail inside one.
        private readonly sbyte[] _state;
        private readonly sbyte[] _allocOrder;
        private readonly int[] _heads = new int[MaxOrder + 1];

        private const sbyte FreeTail = -1;
        private const sbyte AllocHead = -2;
        private const sbyte AllocTail = -3;

        public Zone(ulong startPfn, int pages)
        {
            StartPfn = startPfn;
            Pages = pages;
            _next = new int[pages];
            _prev = new int[pages];
            _state = new sbyte[pages];
            _allocOrder = new sbyte[pages];
            _heads.AsSpan().Fill(None);
        }

        public ulong StartPfn { get; }

        public int Pages { get; }

        public long FreePages { get; private set; }

        public void SeedFreeLists()
        {
            _state.AsSpan().Fill(AllocTail);
            var pfn = StartPfn;
            var end = StartPfn + (ulong)Pages;
            while (pfn < end)
            {
                // The largest naturally aligned block that starts here and fits.
                var order = MaxOrder;
                while (order > 0 && ((pfn & ((1UL << order) - 1)) != 0 || pfn + (1UL << order) > end))
                {
                    order--;
                }

                MarkFree(pfn, order);
                pfn += 1UL << order;
            }
        }

        public bool TryAlloc(int order, out ulong pfn)
        {
            var o = order;
            while (o <= MaxOrder && _heads[o] == None)
            {
                o++;
            }

            if (o > MaxOrder)
            {
                pfn = 0;
                return false;
            }

            var index = PopLowest(o);

            // Split: keep the lower half, give the upper halves back (expand() in the kernel).
            while (o > order)
            {
                o--;
                MarkFree(StartPfn + (ulong)index + (1UL << o), o);
            }

            _state.AsSpan(index, 1 << order).Fill(AllocTail);
            _state[index] = AllocHead;
            _allocOrder[index] = (sbyte)order;
            pfn = StartPfn + (ulong)index;
            return true;
        }

        public bool IsAllocated(ulong pfn)
        {
            var index = (int)(pfn - StartPfn);
            return _state[index] is AllocHead or AllocTail;
        }

        public void CheckAllocated(ulong pfn, int order)
        {
            var index = (int)(pfn - StartPfn);
            if (_state[index] != AllocHead || _allocOrder[index] != order)
            {
                throw new InvalidOperationException($"pfn 0x{pfn:x} order {order} is not an allocated block (double free or wrong order).");
            }
        }

        public void Free(ulong pfn, int order)
        {
            FreePages += 1L << order;
            _state.AsSpan((int)(pfn - StartPfn), 1 << order).Fill(AllocTail);
            while (order < MaxOrder)
            {
                var buddy = pfn ^ (1UL << order);
                if (buddy < StartPfn || buddy + (1UL << order) > StartPfn + (ulong)Pages)
                {
                    break;
                }

                var buddyIndex = (int)(buddy - StartPfn);
                if (_state[buddyIndex] != order)
                {
                    break;
                }

                Unlink(buddyIndex, order);
                _state[buddyIndex] = AllocTail;
                pfn = Math.Min(pfn, buddy);
                order++;
            }

            FreePages -= 1L << order;
            MarkFree(pfn, order);
        }

        private void MarkFree(ulong pfn, int order)
        {
            var index = (int)(pfn - StartPfn);
            _state.AsSpan(index, 1 << order).Fill(FreeTail);
            _state[index] = (sbyte)order;
            FreePages += 1L << order;

            // Sorted insert keeps "lowest address first"; lists are short in the model's machines.
            var prev = None;
            var cur = _heads[order];
            while (cur != None && cur < index)
            {
                prev = cur;
                cur = _next[cur];
            }

            _next[index] = cur;
            _prev[index] = prev;
            if (cur != None)
            {
                _prev[cur] = index;
            }

            if (prev == None)
            {
                _heads[order] = index;
            }
            else
            {
                _next[prev] = index;
            }
        }

        private int PopLowest(int order)
        {
            var index = _heads[order];
            Unlink(index, order);
            FreePages -= 1L << order;
            return index;
        }

        private void Unlink(int index, int order)
        {
            var next = _next[index];
            var prev = _prev[index];
            if (prev == None)
            {
                _heads[order] = next;
            }
            else
            {
                _next[prev] = next;
            }

            if (next != None)
            {
                _prev[next] = prev;
            }
        }
    }
}
