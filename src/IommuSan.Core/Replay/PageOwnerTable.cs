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
/// Stored like the kernel's page_ext: a sparse directory of fixed-size sections allocated on first
/// use, so the per-event cost is an index computation, not a hash lookup over millions of pfns.
/// </summary>
internal sealed class PageOwnerTable
{
    /// <summary>MAX_PAGE_ORDER on the common configurations (4 MiB blocks with 4K pages).</summary>
    public const int MaxOrder = 10;

    /// <summary>Pfns per section: 2^15 pages (128 MiB of 4K pages).</summary>
    private const int SectionShift = 15;

    /// <summary>Pfns beyond this (2^40 pages: 4 PiB of 4K pages) are kept in a dictionary, not the directory.</summary>
    private const ulong DirectoryLimit = 1UL << 40;

    private readonly Dictionary<ulong, Section> _sections = [];
    private ulong _lastSectionIndex = ulong.MaxValue;
    private Section? _lastSection;

    // Highest order seen so far: a lookup never tries heads of larger blocks than were ever allocated.
    private int _maxOrder;

    public void Allocated(ulong pfn, in PageOwnerEntry entry)
    {
        var section = SectionFor(pfn, create: true)!;
        var i = (int)(pfn & ((1UL << SectionShift) - 1));
        section.Entries[i] = entry;
        section.Present[i] = true;
        _maxOrder = Math.Max(_maxOrder, Math.Clamp(entry.Order, 0, MaxOrder));
    }

    /// <summary>Marks the block freed; false when the trace never showed it allocated.</summary>
    public bool Freed(ulong pfn, long timeNs)
    {
        if (TryFindHead(pfn, out var section, out var i))
        {
            section.Entries[i].FreedAtNs = timeNs;
            return true;
        }

        return false;
    }

    public bool TryGet(ulong pfn, out ulong head, out PageOwnerEntry entry)
    {
        if (TryFindHead(pfn, out var section, out var i))
        {
            entry = section.Entries[i];
            head = (pfn >> SectionShift << SectionShift) | (uint)i;
            return true;
        }

        head = 0;
        entry = default;
        return false;
    }

    private bool TryFindHead(ulong pfn, out Section section, out int index)
    {
        for (var order = 0; order <= _maxOrder; order++)
        {
            var head = pfn & ~((1UL << order) - 1);
            var s = SectionFor(head, create: false);
            if (s is not null)
            {
                var i = (int)(head & ((1UL << SectionShift) - 1));
                if (s.Present[i] && s.Entries[i].Order >= order)
                {
                    section = s;
                    index = i;
                    return true;
                }
            }
        }

        section = null!;
        index = 0;
        return false;
    }

    private Section? SectionFor(ulong pfn, bool create)
    {
        var key = pfn >= DirectoryLimit ? ulong.MaxValue - 1 : pfn >> SectionShift;
        if (key == _lastSectionIndex)
        {
            return _lastSection;
        }

        if (!_sections.TryGetValue(key, out var s))
        {
            if (!create)
            {
                return null;
            }

            s = new Section();
            _sections[key] = s;
        }

        _lastSectionIndex = key;
        _lastSection = s;
        return s;
    }

    private sealed class Section
    {
        public readonly PageOwnerEntry[] Entries = new PageOwnerEntry[1 << SectionShift];
        public readonly bool[] Present = new bool[1 << SectionShift];
    }
}
