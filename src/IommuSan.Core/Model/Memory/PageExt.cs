using System.Diagnostics;
using System.Numerics;

namespace IommuSan.Model.Memory;

/// <summary>
/// The per-page IOMMU mapping count (the sanitizer's page_ext data), stored sparsely in memory
/// sections as SPARSEMEM does: a section exists only where pages exist, so a machine with terabytes
/// of address space and large holes costs memory only for its RAM. Counters are updated with
/// lock-free atomics, as the kernel's atomic_t in page_ext is.
/// </summary>
/// <remarks>
/// Two ways to build one:
/// <list type="bullet">
/// <item><see cref="ForMemoryMap"/>: the RAM layout is known; pfns outside RAM have no struct page.</item>
/// <item><see cref="ForUnknownMemoryMap"/>: a trace names pfns but not the RAM layout; a section is
/// created on first touch and every page is assumed to have a struct page unless marked with
/// <see cref="MarkNoStructPage"/> (MMIO seen through dma_map_resource or attrs=MMIO).</item>
/// </list>
/// </remarks>
internal sealed class PageExt
{
    /// <summary>
    /// SECTION_SIZE_BITS: 27 (128 MiB) on x86_64 and on arm64 with 4K/16K pages, 29 (512 MiB) on
    /// arm64 with 64K pages (arch/*/include/asm/sparsemem.h).
    /// </summary>
    public const int SectionShiftSmallPages = 27;

    /// <inheritdoc cref="SectionShiftSmallPages"/>
    public const int SectionShift64KPages = 29;

    /// <summary>Sections per root of the two-level directory (SPARSEMEM_EXTREME's SECTIONS_PER_ROOT idea).</summary>
    private const int RootShift = 12;

    private readonly Section?[]?[] _roots;
    private readonly int _pagesPerSectionShift;
    private readonly ulong _maxPfn;
    private long _sectionsAllocated;

    private PageExt(int pageShift, bool unknownMemoryMap)
    {
        PageShift = pageShift;
        UnknownMemoryMap = unknownMemoryMap;
        SectionShift = pageShift == PageSize.Shift64K ? SectionShift64KPages : SectionShiftSmallPages;
        _pagesPerSectionShift = SectionShift - pageShift;
        _maxPfn = 1UL << (PhysicalMemory.MaxPhysBits - pageShift);
        var sectionIndexBits = PhysicalMemory.MaxPhysBits - SectionShift;
        _roots = new Section?[]?[1 << (sectionIndexBits - RootShift)];
    }

    public int PageShift { get; }

    public int SectionShift { get; }

    public bool UnknownMemoryMap { get; }

    public int PagesPerSection => 1 << _pagesPerSectionShift;

    /// <summary>Sections that hold counters (the memory this PageExt costs, one int per page of each).</summary>
    public long SectionsAllocated => Interlocked.Read(ref _sectionsAllocated);

    public static PageExt ForMemoryMap(PhysicalMemory memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        var ext = new PageExt(memory.PageShift, unknownMemoryMap: false);
        foreach (var ram in memory.RamRanges)
        {
            var first = ram.Start >> memory.PageShift;
            var end = ram.End >> memory.PageShift;
            for (var pfn = first; pfn < end;)
            {
                var section = ext.GetOrCreate(pfn, presentByDefault: false)!;
                var index = ext.IndexInSection(pfn);
                var run = Math.Min(end - pfn, (ulong)(ext.PagesPerSection - index));
                section.SetPresent(index, (int)run, present: true);
                pfn += run;
            }
        }

        return ext;
    }

    public static PageExt ForUnknownMemoryMap(int pageShift)
    {
        if (pageShift is not (PageSize.Shift4K or PageSize.Shift16K or PageSize.Shift64K))
        {
            throw new ArgumentOutOfRangeException(nameof(pageShift), pageShift, "CPU page size must be 4K, 16K or 64K.");
        }

        return new PageExt(pageShift, unknownMemoryMap: true);
    }

    /// <summary>
    /// Marks [pfn, pfn + count) as having no struct page: the sanitizer skips those pages as the
    /// kernel's page_ext lookup does for MMIO. Whole sections become a shared marker, so marking a
    /// 256 GiB BAR costs no counters.
    /// </summary>
    public void MarkNoStructPage(ulong pfn, ulong count)
    {
        var end = pfn + count < pfn || pfn + count > _maxPfn ? _maxPfn : pfn + count;
        while (pfn < end)
        {
            var index = IndexInSection(pfn);
            var run = Math.Min(end - pfn, (ulong)(PagesPerSection - index));
            if (index == 0 && run == (ulong)PagesPerSection)
            {
                var root = GetRoot(pfn);
                var slot = SlotInRoot(pfn);
                var old = Volatile.Read(ref root[slot]);
                if (old is not null && !ReferenceEquals(old, Section.NoStructPage) && !old.IsIdle())
                {
                    throw new InvalidOperationException($"pfn 0x{pfn:x}: cannot mark a section with live IOMMU counts as MMIO.");
                }

                Volatile.Write(ref root[slot], Section.NoStructPage);
            }
            else
            {
                // In a known memory map a missing section already means "no struct page".
                var section = UnknownMemoryMap ? GetOrCreate(pfn, presentByDefault: true) : SectionForUpdate(pfn);
                section?.SetPresent(index, (int)run, present: false);
            }

            pfn += run;
        }
    }

    /// <summary>True when <paramref name="pfn"/> has a struct page (and so a counter).</summary>
    public bool HasStructPage(ulong pfn)
    {
        if (pfn >= _maxPfn)
        {
            return false;
        }

        var section = Peek(pfn);
        if (section is null)
        {
            return UnknownMemoryMap;
        }

        return section.IsPresent(IndexInSection(pfn));
    }

    /// <summary>The page's current IOMMU mapping count; 0 for pages never touched or without a struct page.</summary>
    public int GetCount(ulong pfn)
    {
        var section = pfn < _maxPfn ? Peek(pfn) : null;
        if (section is null)
        {
            return 0;
        }

        var index = IndexInSection(pfn);
        return section.IsPresent(index) ? Volatile.Read(ref section.Counts[index]) : 0;
    }

    /// <summary>
    /// The section holding <paramref name="pfn"/> for a counter update, or null when the page has
    /// no struct page. In an unknown memory map, creates the section on first touch.
    /// </summary>
    internal Section? SectionForUpdate(ulong pfn)
    {
        if (pfn >= _maxPfn)
        {
            return null;
        }

        var section = Peek(pfn) ?? (UnknownMemoryMap ? GetOrCreate(pfn, presentByDefault: true) : null);
        return ReferenceEquals(section, Section.NoStructPage) ? null : section;
    }

    internal Section? SectionForRead(ulong pfn) => pfn < _maxPfn ? Peek(pfn) : null;

    internal int IndexInSection(ulong pfn) => (int)(pfn & ((1UL << _pagesPerSectionShift) - 1));

    private Section? Peek(ulong pfn)
    {
        var root = Volatile.Read(ref _roots[(int)(pfn >> (_pagesPerSectionShift + RootShift))]);
        return root is null ? null : Volatile.Read(ref root[SlotInRoot(pfn)]);
    }

    private int SlotInRoot(ulong pfn) => (int)((pfn >> _pagesPerSectionShift) & ((1UL << RootShift) - 1));

    private Section?[] GetRoot(ulong pfn)
    {
        ref var root = ref _roots[(int)(pfn >> (_pagesPerSectionShift + RootShift))];
        var existing = Volatile.Read(ref root);
        if (existing is not null)
        {
            return existing;
        }

        // Racing first touches from several CPUs: one allocation wins, the others use it.
        Interlocked.CompareExchange(ref root, new Section?[1 << RootShift], null);
        return root!;
    }

    private Section? GetOrCreate(ulong pfn, bool presentByDefault)
    {
        var root = GetRoot(pfn);
        ref var slot = ref root[SlotInRoot(pfn)];
        var existing = Volatile.Read(ref slot);
        if (existing is not null)
        {
            return ReferenceEquals(existing, Section.NoStructPage) ? null : existing;
        }

        var fresh = new Section(PagesPerSection, presentByDefault);
        var won = Interlocked.CompareExchange(ref slot, fresh, null);
        if (won is null)
        {
            Interlocked.Increment(ref _sectionsAllocated);
            return fresh;
        }

        return ReferenceEquals(won, Section.NoStructPage) ? null : won;
    }

    /// <summary>
    /// One memory section's page_ext: a counter per page and, when some of its pages have no struct
    /// page (a partial section, or MMIO marked inside it), a bitmap of the pages that do.
    /// </summary>
    internal sealed class Section
    {
        /// <summary>Shared marker for a whole section without struct pages; holds no counters.</summary>
        public static readonly Section NoStructPage = new();

        public readonly int[] Counts;

        // null: every page of the section has a struct page (the common case, no bitmap to test).
        private ulong[]? _present;

        public Section(int pages, bool presentByDefault)
        {
            Counts = new int[pages];
            if (!presentByDefault)
            {
                _present = new ulong[pages / 64];
            }
        }

        private Section()
        {
            Counts = [];
            _present = [];
        }

        public bool IsPresent(int index)
        {
            var present = _present;
            return present is null || (present.Length > 0 && (present[index >> 6] & (1UL << index)) != 0);
        }

        public bool AllPresent => _present is null;

        /// <summary>
        /// How many pages from <paramref name="index"/> on (at most <paramref name="max"/>) are all
        /// present, or all absent: the sanitizer's runs inside a partial section, a bitmap word at a time.
        /// </summary>
        public int RunLength(int index, int max, bool present)
        {
            var bits = _present;
            if (bits is null || bits.Length == 0)
            {
                return (bits is null) == present ? max : 0;
            }

            var n = 0;
            while (n < max)
            {
                var i = index + n;
                var word = present ? bits[i >> 6] : ~bits[i >> 6];
                var available = 64 - (i & 63);

                // Shifted down, the word's top bits are 0, so its trailing ones stop within the word.
                var ones = BitOperations.TrailingZeroCount(~(word >> (i & 63)));
                n += Math.Min(ones, available);
                if (ones < available)
                {
                    break;
                }
            }

            return Math.Min(n, max);
        }

        public bool IsIdle() => Counts.AsSpan().IndexOfAnyExcept(0) < 0;

        public void SetPresent(int index, int count, bool present)
        {
            Debug.Assert(Counts.Length > 0, "never on the shared marker");
            lock (Counts)
            {
                var bits = _present;
                if (bits is null)
                {
                    if (present)
                    {
                        return;
                    }

                    bits = new ulong[Counts.Length / 64];
                    bits.AsSpan().Fill(ulong.MaxValue);
                }

                for (var i = index; i < index + count; i++)
                {
                    if (present)
                    {
                        bits[i >> 6] |= 1UL << i;
                    }
                    else
                    {
                        bits[i >> 6] &= ~(1UL << i);
                    }
                }

                Volatile.Write(ref _present, bits);
            }
        }
    }
}
