namespace IommuSan.Model.Memory;

/// <summary>What lives at a range of physical address space.</summary>
internal enum PhysicalRangeKind
{
    /// <summary>System RAM: every page has a struct page (and so a page_ext).</summary>
    Ram,

    /// <summary>Device memory (PCI BARs, doorbells): mappable by an IOMMU, but no struct page.</summary>
    Mmio,
}

/// <summary>One range of the physical memory map, [Start, Start + Size).</summary>
internal readonly record struct PhysicalRange(ulong Start, ulong Size, PhysicalRangeKind Kind)
{
    public ulong End => Start + Size;
}

/// <summary>
/// The machine's physical address space: RAM ranges (pages with a struct page), MMIO ranges and the
/// holes between them (neither), and the CPU base page size. Like the kernel's memblock view after
/// boot; the page allocator and page_ext are built from it.
/// </summary>
internal sealed class PhysicalMemory
{
    /// <summary>The largest physical address width Linux supports (arm64 LPA, x86_64 5-level: MAX_PHYSMEM_BITS = 52).</summary>
    public const int MaxPhysBits = 52;

    private readonly PhysicalRange[] _ranges;

    public PhysicalMemory(int pageShift, IEnumerable<PhysicalRange> ranges)
    {
        if (pageShift is not (PageSize.Shift4K or PageSize.Shift16K or PageSize.Shift64K))
        {
            throw new ArgumentOutOfRangeException(nameof(pageShift), pageShift, "CPU page size must be 4K, 16K or 64K.");
        }

        ArgumentNullException.ThrowIfNull(ranges);
        PageShift = pageShift;
        var pageMask = PageSizeBytes - 1;
        var sorted = ranges.OrderBy(r => r.Start).ToArray();
        for (var i = 0; i < sorted.Length; i++)
        {
            var r = sorted[i];
            if (r.Size == 0 || ((r.Start | r.Size) & pageMask) != 0)
            {
                throw new ArgumentException($"Range 0x{r.Start:x}+0x{r.Size:x} is empty or not page aligned.", nameof(ranges));
            }

            if (r.End < r.Start || r.End > 1UL << MaxPhysBits)
            {
                throw new ArgumentException($"Range 0x{r.Start:x}+0x{r.Size:x} exceeds the {MaxPhysBits}-bit physical address space.", nameof(ranges));
            }

            if (i > 0 && sorted[i - 1].End > r.Start)
            {
                throw new ArgumentException($"Ranges overlap at 0x{r.Start:x}.", nameof(ranges));
            }
        }

        _ranges = sorted;
    }

    public int PageShift { get; }

    public ulong PageSizeBytes => 1UL << PageShift;

    public IReadOnlyList<PhysicalRange> Ranges => _ranges;

    public IEnumerable<PhysicalRange> RamRanges => _ranges.Where(r => r.Kind == PhysicalRangeKind.Ram);

    public ulong TotalRamBytes => RamRanges.Aggregate(0UL, (sum, r) => sum + r.Size);

    /// <summary>True when <paramref name="paddr"/> is RAM, i.e. its page has a struct page.</summary>
    public bool IsRam(ulong paddr)
    {
        foreach (var r in _ranges)
        {
            if (paddr >= r.Start && paddr < r.End)
            {
                return r.Kind == PhysicalRangeKind.Ram;
            }
        }

        return false;
    }
}
