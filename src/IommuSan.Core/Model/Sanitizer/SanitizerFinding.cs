using IommuSan.Model.Memory;

namespace IommuSan.Model.Sanitizer;

/// <summary>How the sanitizer counts.</summary>
internal enum SanitizerMode
{
    /// <summary>
    /// The kernel's exact semantics: steps of the domain's granule for map and unmap alike, only the
    /// requested range on unmap. Reproduces the kernel's reports, false ones and blind spots included.
    /// </summary>
    KernelExact,

    /// <summary>
    /// Counts every CPU page a mapping touches (steps of min(granule, CPU page)), so a granule larger
    /// than the CPU page leaves no blind spot, and accounts for the whole range an unmap really
    /// removed (a page table that unmaps a whole block leaves no stale counts behind).
    /// </summary>
    Precise,
}

/// <summary>What the sanitizer found. Each is a WARN (or WARN_ON_ONCE) in the kernel.</summary>
internal enum FindingKind
{
    /// <summary>A page allocated or freed while its IOMMU mapping count is not 0: "iommu: Detected page leak!".</summary>
    PageLeak,

    /// <summary>An unmap took a page's count below zero: it was unmapped more often than mapped.</summary>
    UnbalancedUnmap,

    /// <summary>A map left a page's count at or below zero (atomic_inc_return &lt;= 0): wrapped, or incremented from an unbalanced negative count.</summary>
    CounterOverflow,

    /// <summary>The page table unmapped more than asked (WARN_ON_ONCE in unmap_end: once per sanitizer).</summary>
    UnmappedMoreThanRequested,

    /// <summary>A map of physical address 0, or whose paddr + size overflows: WARNed and not counted.</summary>
    InvalidMap,

    /// <summary>An unmap whose iova + size overflows: WARNed and not counted.</summary>
    InvalidUnmap,
}

/// <summary>An IOMMU mapping a finding involves. Iova is null where the hook was not told it (the kernel's map hook only sees paddr).</summary>
internal readonly record struct IommuMappingRef(int DomainId, string DomainName, ulong? Iova, ulong Paddr, ulong Size);

/// <summary>
/// One finding, as a value (never console output): the kind, the page (pfn) and its mapping count
/// after the event, the page owner record when known, and the mapping involved when known.
/// <see cref="Unmapped"/> is the page table's answer for <see cref="FindingKind.UnmappedMoreThanRequested"/>.
/// </summary>
internal readonly record struct SanitizerFinding(
    FindingKind Kind,
    ulong Pfn,
    int Count,
    IommuMappingRef? Mapping,
    PageOwnerRecord? Owner,
    ulong Unmapped = 0);

/// <summary>Where the sanitizer sends findings. Called only when something is found (never on the clean hot path); may be called from several threads.</summary>
internal interface IFindingSink
{
    void Report(in SanitizerFinding finding);
}

/// <summary>A thread-safe list of findings in the order they were reported.</summary>
internal sealed class FindingList : IFindingSink
{
    private readonly List<SanitizerFinding> _findings = [];
    private readonly Lock _lock = new();

    public void Report(in SanitizerFinding finding)
    {
        lock (_lock)
        {
            _findings.Add(finding);
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _findings.Count;
            }
        }
    }

    public IReadOnlyList<SanitizerFinding> Snapshot()
    {
        lock (_lock)
        {
            return _findings.ToArray();
        }
    }

    public int CountOf(FindingKind kind)
    {
        lock (_lock)
        {
            var n = 0;
            foreach (var f in _findings)
            {
                if (f.Kind == kind)
                {
                    n++;
                }
            }

            return n;
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _findings.Clear();
        }
    }
}
