namespace IommuSan.Replay;

/// <summary>The allocation that handed a page out, as page_owner would record it.</summary>
internal struct PageOwnerEntry
{
    public int Order;
    public ulong GfpFlags;
    public long TimeNs;
    public int Cpu;
    public int Pid;
    public string Comm;
    public string Name;

    /// <summary>When the page was freed after this allocation, or 0 while allocated.</summary>
    public long FreedAtNs;
}

/// <summary>
/// page_owner from the trace: per head pfn, the last mm_page_alloc. A tail page of a
/// higher-order block is found through its head (the block's pfn aligned down to its order).
/// </summary>
internal sealed class PageOwnerTable
{
    /// <summary>MAX_PAGE_ORDER on the common configurations (4 MiB blocks with 4K pages).</summary>
    public const int MaxOrder = 10;

    private readonly Dictionary<ulong, PageOwnerEntry> _byHead = [];

    public void Allocated(ulong pfn, in PageOwnerEntry entry) => _byHead[pfn] = entry;

    /// <summary>Marks the block freed; false when the trace never showed it allocated.</summary>
    public bool Freed(ulong pfn, long timeNs)
    {
        if (TryFindHead(pfn, out var head))
        {
            ref var e = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_byHead, head);
            e.FreedAtNs = timeNs;
            return true;
        }

        return false;
    }

    public bool TryGet(ulong pfn, out ulong head, out PageOwnerEntry entry)
    {
        if (TryFindHead(pfn, out head))
        {
            entry = _byHead[head];
            return true;
        }

        entry = default;
        return false;
    }

    private bool TryFindHead(ulong pfn, out ulong head)
    {
        for (var order = 0; order <= MaxOrder; order++)
        {
            head = pfn & ~((1UL << order) - 1);
            if (_byHead.TryGetValue(head, out var e) && e.Order >= order)
            {
                return true;
            }
        }

        head = 0;
        return false;
    }
}
