using System.Numerics;
using System.Runtime.CompilerServices;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;

namespace IommuSan.Model.Sanitizer;

/// <summary>
/// IOMMU_DEBUG_PAGEALLOC: a per-page count of IOMMU mappings in page_ext, raised by map, lowered
/// by unmap, and checked by the page allocator on every allocation and free ("Detected page
/// leak!"). Hooks are callable directly (a trace replay drives them against a domain whose page
/// table mirrors the trace) or through <see cref="IommuCore"/>.
/// </summary>
/// <remarks>
/// Hooks and order, as in __iommu_unmap: <see cref="UnmapBegin"/> before the page table changes
/// (it reads translations), the page-table unmap, then <see cref="UnmapEnd"/> with what the page
/// table said it unmapped. UnmapBegin/UnmapEnd of one unmap run on the same thread, as both run
/// inside one __iommu_unmap call in the kernel. Disabled, every hook returns at its first test
/// (the kernel's static key). Nothing is allocated on the hot path unless something is found.
/// </remarks>
internal sealed class IommuDebugPagealloc : IDebugPageallocHook
{
    /// <summary>What the kernel prints when the sanitizer is enabled at boot.</summary>
    public const string BootMessage = "iommu: Debugging page allocations, expect overhead or disable iommu.debug_pagealloc";

    // The precise mode's widened unmap range, carried from UnmapBegin to UnmapEnd of the same call.
    [ThreadStatic]
    private static PendingUnmap _pending;

    private readonly bool _enabled;
    private readonly PageExt _pageExt;
    private readonly IFindingSink _sink;
    private readonly PageOwner? _owner;
    private readonly int _pageShift;
    private readonly ulong _pageSize;
    private readonly int _sectionPageShift;
    private readonly ulong _sectionPageMask;
    private readonly List<IommuDomain> _domains = [];
    private readonly Lock _domainsLock = new();
    private int _warnedUnmappedMore;

    public IommuDebugPagealloc(PageExt pageExt, SanitizerMode mode, IFindingSink sink, PageOwner? owner = null, bool enabled = true)
    {
        ArgumentNullException.ThrowIfNull(pageExt);
        ArgumentNullException.ThrowIfNull(sink);
        _pageExt = pageExt;
        _sink = sink;
        _owner = owner;
        _enabled = enabled;
        Mode = mode;
        _pageShift = pageExt.PageShift;
        _pageSize = 1UL << _pageShift;
        _sectionPageShift = BitOperations.TrailingZeroCount(pageExt.PagesPerSection);
        _sectionPageMask = (ulong)pageExt.PagesPerSection - 1;
    }

    /// <summary>Boots the sanitizer as the kernel does: enabled only when the command line says iommu.debug_pagealloc=1 (or y/on).</summary>
    public static IommuDebugPagealloc Boot(string kernelCommandLine, PageExt pageExt, SanitizerMode mode, IFindingSink sink, PageOwner? owner = null) =>
        new(pageExt, mode, sink, owner, DebugPageallocParam.Parse(kernelCommandLine).Enabled);

    public bool Enabled => _enabled;

    public SanitizerMode Mode { get; }

    public PageExt PageExt => _pageExt;

    /// <summary>
    /// On a page leak, look through the domains this sanitizer has seen for a mapping of the page
    /// (a slow walk, only when reporting). A replay with its own attribution can turn it off.
    /// </summary>
    public bool ResolveMappings { get; init; } = true;

    /// <summary>
    /// The range a page table really removed when an unmap of [iova, iova + size) reported
    /// <paramref name="unmapped"/> bytes: more than asked means a whole naturally aligned block
    /// went (VT-d), so a power-of-two <paramref name="unmapped"/> is aligned down around iova;
    /// otherwise the range starts at iova. A replay unmaps this range from its mirror page table.
    /// </summary>
    public static (ulong Start, ulong Length) RemovedRange(ulong iova, ulong size, ulong unmapped)
    {
        if (unmapped > size && BitOperations.IsPow2(unmapped))
        {
            return (iova & ~(unmapped - 1), unmapped);
        }

        return (iova, unmapped);
    }

    /// <summary>The page's current IOMMU mapping count (0 when never mapped or without a struct page).</summary>
    public int GetCount(ulong pfn) => _pageExt.GetCount(pfn);

    /// <summary>
    /// iommu_debug_map: after a successful page-table map of [paddr, paddr + size), raise the count
    /// of each page. <paramref name="iova"/> only labels findings (the kernel's hook does not see it).
    /// </summary>
    public void Map(IommuDomain domain, ulong paddr, ulong size, ulong? iova = null)
    {
        if (!_enabled)
        {
            return;
        }

        Register(domain);
        if (paddr == 0 || paddr + size < paddr)
        {
            Report(new SanitizerFinding(FindingKind.InvalidMap, paddr >> _pageShift, 0,
                new IommuMappingRef(domain.Id, domain.Name, iova, paddr, size), null));
            return;
        }

        AddPhys(domain, paddr, size, +1, iova ?? 0, iova.HasValue);
    }

    /// <summary>
    /// iommu_debug_unmap_begin: before the page table changes, lower the count of every page
    /// [iova, iova + size) translates to (iova without a translation is skipped). In precise mode
    /// the range is widened to whole leaves and, when the caller knows it (a trace's
    /// unmapped_size), to the range really removed (<see cref="RemovedRange"/>).
    /// </summary>
    public void UnmapBegin(IommuDomain domain, ulong iova, ulong size, ulong? unmappedSize = null)
    {
        if (!_enabled)
        {
            return;
        }

        Register(domain);
        if (iova + size < iova)
        {
            Report(new SanitizerFinding(FindingKind.InvalidUnmap, 0, 0, new IommuMappingRef(domain.Id, domain.Name, iova, 0, size), null));
            _pending = default;
            return;
        }

        var lo = iova;
        var hi = iova + size;
        if (Mode == SanitizerMode.KernelExact)
        {
            UpdateIova(domain, ref lo, ref hi, -1, widen: false);
            return;
        }

        if (unmappedSize is { } unmapped && unmapped > size)
        {
            var (start, length) = RemovedRange(iova, size, unmapped);
            lo = Math.Min(lo, start);
            hi = Math.Max(hi, start + length);
        }

        // Widened on the way to whole leaves at both ends; UnmapEnd needs the final range.
        UpdateIova(domain, ref lo, ref hi, -1, widen: true);
        _pending = new PendingUnmap(this, domain, iova, size, lo, hi);
    }

    /// <summary>
    /// iommu_debug_unmap_end: <paramref name="unmapped"/> is what the page table removed. Less than
    /// asked: the tail is still mapped, so its counts are raised again. More than asked: WARN once;
    /// the kernel does nothing else (its counts for the rest of the block stay raised), precise mode
    /// has already lowered the whole block in UnmapBegin and raises back whatever is still mapped.
    /// </summary>
    public void UnmapEnd(IommuDomain domain, ulong iova, ulong size, ulong unmapped)
    {
        if (!_enabled || iova + size < iova)
        {
            return;
        }

        if (unmapped > size && Interlocked.Exchange(ref _warnedUnmappedMore, 1) == 0)
        {
            Report(new SanitizerFinding(FindingKind.UnmappedMoreThanRequested, 0, 0,
                new IommuMappingRef(domain.Id, domain.Name, iova, 0, size), null, unmapped));
        }

        if (Mode == SanitizerMode.KernelExact)
        {
            if (unmapped < size)
            {
                var tail = iova + unmapped;
                var end = iova + size;
                UpdateIova(domain, ref tail, ref end, +1, widen: false);
            }

            return;
        }

        var pending = _pending;
        _pending = default;
        var lo = iova;
        var hi = iova + size;
        if (ReferenceEquals(pending.Sanitizer, this) && ReferenceEquals(pending.Domain, domain) && pending.Iova == iova && pending.Size == size)
        {
            lo = pending.Lo;
            hi = pending.Hi;
        }

        if (unmapped == size && lo == iova && hi == iova + size)
        {
            return;
        }

        // Everything in [lo, hi) was lowered; what the page table left mapped there is raised back.
        UpdateIova(domain, ref lo, ref hi, +1, widen: false);
    }

    private static int ScalarNonZero(ReadOnlySpan<int> counts)
    {
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] != 0)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// iommu_debug_check_unmapped: called by the page allocator for every block allocated or freed.
    /// Each page with a non-zero count is a <see cref="FindingKind.PageLeak"/>. Returns how many.
    /// </summary>
    public int CheckUnmapped(ulong pfn, int numPages)
    {
        if (!_enabled)
        {
            return 0;
        }

        var leaks = 0;
        var end = pfn + (ulong)numPages;
        var p = pfn;
        while (p < end)
        {
            var index = (int)(p & _sectionPageMask);
            var run = (int)Math.Min(end - p, (ulong)_pageExt.PagesPerSection - (ulong)index);
            var section = _pageExt.SectionForRead(p);
            if (section is { Counts.Length: > 0 })
            {
                var counts = section.Counts.AsSpan(index, run);
                var k = 0;
                int next;

                // Most checks are of one page (order 0): a scalar test beats the vector search's setup.
                while (k < counts.Length && (next = counts.Length - k <= 8 ? ScalarNonZero(counts[k..]) : counts[k..].IndexOfAnyExcept(0)) >= 0)
                {
                    k += next;
                    if (section.IsPresent(index + k))
                    {
                        var count = Volatile.Read(ref section.Counts[index + k]);
                        if (count != 0)
                        {
                            leaks++;
                            ReportLeak(p + (ulong)k, count);
                        }
                    }

                    k++;
                }
            }

            p += (ulong)run;
        }

        return leaks;
    }

    /// <summary>Raises or lowers the count of the pages of [paddr, paddr + length), stepping per mode.</summary>
    private void AddPhys(IommuDomain domain, ulong paddr, ulong length, int delta, ulong iova, bool iovaKnown)
    {
        var step = Mode == SanitizerMode.Precise ? Math.Min(domain.Granule, _pageSize) : domain.Granule;
        if (step == _pageSize)
        {
            AddPages(domain, paddr, length, delta, iova, iovaKnown);
            return;
        }

        // A granule smaller than the CPU page counts a page once per granule; a larger one (kernel-exact)
        // counts only the first page of each granule. Rare layouts: one section lookup per run of steps.
        var sectionKey = ulong.MaxValue;
        PageExt.Section? section = null;
        for (ulong off = 0; off < length; off += step)
        {
            var pfn = (paddr + off) >> _pageShift;
            var key = pfn >> _sectionPageShift;
            if (key != sectionKey)
            {
                sectionKey = key;
                section = _pageExt.SectionForUpdate(pfn);
            }

            if (section is null)
            {
                continue;
            }

            var index = (int)(pfn & _sectionPageMask);
            if (!section.AllPresent && !section.IsPresent(index))
            {
                continue;
            }

            var value = AddOne(section.Counts, index, delta);
            if (delta > 0 ? value <= 0 : value < 0)
            {
                ReportCounter(domain, pfn, value, delta, iovaKnown ? iova + off : null, paddr + off, step);
            }
        }
    }

    /// <summary>
    /// The common case, one count per CPU page (step == page size): consecutive pfns, so the section is
    /// looked up once per run of pages inside it and the counters are updated over a slice of it,
    /// two pages per atomic operation (<see cref="AddPair"/>). Each page still gets its own
    /// overflow/underflow test on the value the atomic update produced for it.
    /// </summary>
    private void AddPages(IommuDomain domain, ulong paddr, ulong length, int delta, ulong iova, bool iovaKnown)
    {
        var first = paddr >> _pageShift;
        var pages = (length >> _pageShift) + ((length & (_pageSize - 1)) != 0 ? 1UL : 0UL);
        var perSection = _sectionPageMask + 1;
        ulong done = 0;
        while (done < pages)
        {
            var pfn = first + done;
            var index = (int)(pfn & _sectionPageMask);
            var run = (int)Math.Min(pages - done, perSection - (ulong)index);
            var section = _pageExt.SectionForUpdate(pfn);
            if (section is not null)
            {
                var offset = done << _pageShift;
                if (run == 1)
                {
                    // A single page (a 4K map): no run machinery.
                    if (section.IsPresent(index))
                    {
                        var value = AddOne(section.Counts, index, delta);
                        if (delta > 0 ? value <= 0 : value < 0)
                        {
                            ReportPage(domain, pfn, 0, value, delta, paddr + offset, iova + offset, iovaKnown);
                        }
                    }
                }
                else if (section.AllPresent)
                {
                    AddRun(domain, section.Counts, index, run, delta, pfn, paddr + offset, iova + offset, iovaKnown);
                }
                else
                {
                    // A partial section (RAM not filling it, or MMIO marked in it): the runs of pages
                    // with a struct page, found a bitmap word at a time.
                    for (var k = 0; k < run;)
                    {
                        var present = section.RunLength(index + k, run - k, present: true);
                        if (present > 0)
                        {
                            var at = (ulong)k << _pageShift;
                            AddRun(domain, section.Counts, index + k, present, delta, pfn + (ulong)k, paddr + offset + at, iova + offset + at, iovaKnown);
                            k += present;
                        }

                        k += section.RunLength(index + k, run - k, present: false);
                    }
                }
            }

            done += (ulong)run;
        }
    }

    /// <summary>Counters [index, index + run) of a section whose pages all have a struct page.</summary>
    private void AddRun(IommuDomain domain, int[] counts, int index, int run, int delta, ulong pfn, ulong paddr, ulong iova, bool iovaKnown)
    {
        var i = 0;
        if ((index & 1) != 0)
        {
            // An odd first page shares its 64-bit word with the page before the run.
            var value = AddOne(counts, index, delta);
            if (delta > 0 ? value <= 0 : value < 0)
            {
                ReportPage(domain, pfn, 0, value, delta, paddr, iova, iovaKnown);
            }

            i = 1;
        }

        for (; i + 1 < run; i += 2)
        {
            var (a, b) = AddPair(ref counts[index + i], delta);

            // One test for both pages on the clean path.
            if (delta > 0 ? (a <= 0) | (b <= 0) : (a | b) < 0)
            {
                if (delta > 0 ? a <= 0 : a < 0)
                {
                    ReportPage(domain, pfn, i, a, delta, paddr, iova, iovaKnown);
                }

                if (delta > 0 ? b <= 0 : b < 0)
                {
                    ReportPage(domain, pfn, i + 1, b, delta, paddr, iova, iovaKnown);
                }
            }
        }

        if (i < run)
        {
            var value = AddOne(counts, index + i, delta);
            if (delta > 0 ? value <= 0 : value < 0)
            {
                ReportPage(domain, pfn, i, value, delta, paddr, iova, iovaKnown);
            }
        }
    }

    /// <summary>
    /// Adds <paramref name="delta"/> to two neighbouring counters (<paramref name="first"/> at an even
    /// index and the next) with one 64-bit compare-exchange, and returns both new values. The atomic
    /// instruction is what a page's update costs (a lock-prefixed add and a lock-prefixed cmpxchg cost
    /// about the same), so a pair per instruction halves the sanitizer's cost on a run of pages. Each
    /// counter still changes atomically, exactly by delta, without carry between the two halves.
    /// </summary>
    /// <remarks>
    /// Every counter update goes through a 64-bit word (<see cref="AddOne"/> too), so no mixed-size
    /// atomics ever touch the same memory. int[] data is 8-byte aligned on 64-bit runtimes (the array
    /// header is 16 bytes) and sections hold an even number of pages, so pair words never straddle.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int First, int Second) AddPair(ref int first, int delta)
    {
        ref var word = ref Unsafe.As<int, long>(ref first);
        var old = Volatile.Read(ref word);
        var low = (int)old + delta;
        var high = (int)(old >> 32) + delta;
        var updated = (long)(uint)low | ((long)high << 32);
        if (Interlocked.CompareExchange(ref word, updated, old) != old)
        {
            // Another CPU changed one of the two pages in between: retry (lock-free, not wait-free,
            // like any compare-exchange loop; a retry needs a concurrent update to make progress).
            return AddPairContended(ref word, delta);
        }

        return BitConverter.IsLittleEndian ? (low, high) : (high, low);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (int First, int Second) AddPairContended(ref long word, int delta)
    {
        var old = Volatile.Read(ref word);
        while (true)
        {
            var low = (int)old + delta;
            var high = (int)(old >> 32) + delta;
            var updated = (long)(uint)low | ((long)high << 32);
            var seen = Interlocked.CompareExchange(ref word, updated, old);
            if (seen == old)
            {
                return BitConverter.IsLittleEndian ? (low, high) : (high, low);
            }

            old = seen;
        }
    }

    /// <summary>Adds <paramref name="delta"/> to one counter through the 64-bit word holding it (see <see cref="AddPair"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int AddOne(int[] counts, int index, int delta)
    {
        ref var word = ref Unsafe.As<int, long>(ref counts[index & ~1]);
        var shift = ((index & 1) == 0) == BitConverter.IsLittleEndian ? 0 : 32;
        var old = Volatile.Read(ref word);
        var value = (int)(old >> shift) + delta;
        var updated = (old & ~(0xFFFF_FFFFL << shift)) | ((long)(uint)value << shift);
        return Interlocked.CompareExchange(ref word, updated, old) == old ? value : AddOneContended(ref word, shift, delta);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int AddOneContended(ref long word, int shift, int delta)
    {
        var old = Volatile.Read(ref word);
        while (true)
        {
            var value = (int)(old >> shift) + delta;
            var updated = (old & ~(0xFFFF_FFFFL << shift)) | ((long)(uint)value << shift);
            var seen = Interlocked.CompareExchange(ref word, updated, old);
            if (seen == old)
            {
                return value;
            }

            old = seen;
        }
    }

    /// <summary>Cold path: page <paramref name="i"/> of a run starting at <paramref name="pfn"/> / <paramref name="paddr"/> / <paramref name="iova"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReportPage(IommuDomain domain, ulong pfn, int i, int value, int delta, ulong paddr, ulong iova, bool iovaKnown)
    {
        var offset = (ulong)i << _pageShift;
        ReportCounter(domain, pfn + (ulong)i, value, delta, iovaKnown ? iova + offset : null, paddr + offset, _pageSize);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ReportCounter(IommuDomain domain, ulong pfn, int value, int delta, ulong? iova, ulong paddr, ulong size)
    {
        var kind = delta > 0 ? FindingKind.CounterOverflow : FindingKind.UnbalancedUnmap;
        Report(new SanitizerFinding(kind, pfn, value, new IommuMappingRef(domain.Id, domain.Name, iova, paddr, size), Owner(pfn)));
    }

    /// <summary>
    /// The translation walk of unmap_begin/unmap_end over [lo, hi): per granule in kernel-exact mode
    /// (per CPU page when smaller in precise mode), skipping iova with no translation or that
    /// translates to 0. Walks leaf by leaf and skips whole empty entries, with the same result as
    /// the kernel's iova_to_phys per granule and far fewer walks (one per physically contiguous run).
    /// </summary>
    /// <remarks>
    /// With <paramref name="widen"/> (precise mode's unmap_begin), a leaf that starts before
    /// <paramref name="lo"/> or ends after <paramref name="hi"/> is taken whole and the range grows to
    /// match, since the page table may remove all of it.
    /// </remarks>
    private void UpdateIova(IommuDomain domain, ref ulong lo, ref ulong hi, int delta, bool widen)
    {
        var step = domain.Granule;
        var table = domain.PageTable;
        var pos = lo;
        while (pos < hi)
        {
            var walk = table.WalkRun(pos, hi);
            if (widen && walk.Mapped)
            {
                if (walk.Iova < pos && pos == lo)
                {
                    lo = pos = walk.Iova;
                }

                if (walk.End > hi)
                {
                    hi = walk.End;
                }
            }

            var stop = Math.Min(hi, walk.End < walk.Iova ? ulong.MaxValue : walk.End);
            var positions = (stop - pos + step - 1) / step;
            if (walk.Mapped)
            {
                var paddr = walk.Paddr + (pos - walk.Iova);
                var from = pos;
                if (paddr == 0)
                {
                    // iova_to_phys() == 0 reads as "no translation": the kernel skips that granule.
                    paddr += step;
                    from += step;
                }

                if (from < stop)
                {
                    AddPhys(domain, paddr, stop - from, delta, from, iovaKnown: true);
                }
            }

            var advance = positions * step;
            if (advance == 0 || pos + advance < pos)
            {
                break;
            }

            pos += advance;
        }
    }

    private void Register(IommuDomain domain)
    {
        if (ReferenceEquals(domain.SeenBySanitizer, this))
        {
            return;
        }

        lock (_domainsLock)
        {
            if (!_domains.Contains(domain))
            {
                _domains.Add(domain);
            }

            domain.SeenBySanitizer = this;
        }
    }

    private PageOwnerRecord? Owner(ulong pfn) => _owner is not null && _owner.TryGet(pfn, out var record) ? record : null;

    private void ReportLeak(ulong pfn, int count)
    {
        IommuMappingRef? mapping = null;
        if (ResolveMappings)
        {
            IommuDomain[] domains;
            lock (_domainsLock)
            {
                domains = [.. _domains];
            }

            var paddr = pfn << _pageShift;
            foreach (var domain in domains)
            {
                if (domain.PageTable.TryFindLeafByPaddr(paddr, _pageSize, out var leaf))
                {
                    mapping = new IommuMappingRef(domain.Id, domain.Name, leaf.Iova, leaf.Paddr, leaf.Size);
                    break;
                }
            }
        }

        Report(new SanitizerFinding(FindingKind.PageLeak, pfn, count, mapping, Owner(pfn)));
    }

    private void Report(in SanitizerFinding finding) => _sink.Report(finding);

    private readonly record struct PendingUnmap(IommuDebugPagealloc? Sanitizer, IommuDomain? Domain, ulong Iova, ulong Size, ulong Lo, ulong Hi);
}
