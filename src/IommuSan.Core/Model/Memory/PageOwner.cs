namespace IommuSan.Model.Memory;

/// <summary>
/// What page_owner remembers about an allocation: its order and gfp flags, who allocated it and
/// when, and when it was freed (the kernel's dump_page_owner prints these with a "Detected page
/// leak!"). <see cref="Who"/> stands in for the allocation stack: a caller name in the model, the
/// task (comm-pid) in a replayed trace.
/// </summary>
internal readonly record struct PageOwnerRecord(ulong Pfn, int Order, uint GfpFlags, string Who, long AllocTimeNs, long? FreeTimeNs)
{
    public bool IsFreed => FreeTimeNs.HasValue;

    public bool Covers(ulong pfn) => pfn >= Pfn && pfn - Pfn < 1UL << Order;
}

/// <summary>
/// Page owner records keyed by the head pfn of each allocation. Buddy blocks are naturally aligned,
/// so the record covering any pfn is found by trying the head of each order's aligned block (at
/// most <see cref="MaxOrder"/> + 1 lookups) instead of storing a record per page.
/// </summary>
internal sealed class PageOwner
{
    /// <summary>MAX_PAGE_ORDER: the largest buddy block is 2^10 pages.</summary>
    public const int MaxOrder = 10;

    private readonly Dictionary<ulong, PageOwnerRecord> _byHead = [];
    private readonly Lock _lock = new();

    /// <summary>Records an allocation (post_alloc_hook's set_page_owner), replacing what the pages held before.</summary>
    public void SetAllocated(ulong pfn, int order, uint gfpFlags, string who, long timeNs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(order);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(order, MaxOrder);
        lock (_lock)
        {
            // A new block can cover older records of smaller blocks (merged by the buddy allocator)
            // or sit inside an older larger one: drop both so lookups see only the newest owner.
            for (var o = 0; o <= MaxOrder; o++)
            {
                var head = pfn & ~((1UL << o) - 1);
                if (_byHead.TryGetValue(head, out var old) && old.Covers(pfn) && head != pfn)
                {
                    _byHead.Remove(head);
                }
            }

            if (order > 0)
            {
                for (var p = pfn + 1; p < pfn + (1UL << order); p++)
                {
                    _byHead.Remove(p);
                }
            }

            _byHead[pfn] = new PageOwnerRecord(pfn, order, gfpFlags, who, timeNs, null);
        }
    }

    /// <summary>Marks the allocation holding <paramref name="pfn"/> as freed (__reset_page_owner).</summary>
    public void SetFreed(ulong pfn, long timeNs)
    {
        lock (_lock)
        {
            if (TryFindLocked(pfn, out var record))
            {
                _byHead[record.Pfn] = record with { FreeTimeNs = timeNs };
            }
        }
    }

    public bool TryGet(ulong pfn, out PageOwnerRecord record)
    {
        lock (_lock)
        {
            return TryFindLocked(pfn, out record);
        }
    }

    private bool TryFindLocked(ulong pfn, out PageOwnerRecord record)
    {
        for (var o = 0; o <= MaxOrder; o++)
        {
            if (_byHead.TryGetValue(pfn & ~((1UL << o) - 1), out record) && record.Covers(pfn))
            {
                return true;
            }
        }

        record = default;
        return false;
    }
}
