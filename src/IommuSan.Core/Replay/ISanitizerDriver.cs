namespace IommuSan.Replay;

/// <summary>What the model said about one map, unmap or page check (the sanitizer's WARNs, as values).</summary>
internal enum SanitizerReportKind
{
    /// <summary>The page's count is not zero at an alloc/free check.</summary>
    PageLeak,

    /// <summary>unmap_begin took a count below zero.</summary>
    UnbalancedUnmap,

    /// <summary>A count overflowed on map.</summary>
    CounterOverflow,

    /// <summary>unmap_end saw unmapped &gt; size.</summary>
    UnmappedMoreThanRequested,

    /// <summary>paddr 0 or paddr + size overflow on map.</summary>
    InvalidMap,
}

/// <summary>One sanitizer report: which page (or address) and its count afterwards.</summary>
internal readonly record struct SanitizerReport(SanitizerReportKind Kind, ulong Pfn, ulong Address, ulong Size, long Count);

/// <summary>
/// The replay's only way into the model (IommuDomain page tables, PageExt counters and the
/// IommuDebugPagealloc hooks): the replay decides which domain each event belongs to, the model
/// does all the counting. Reports are appended to a caller-owned list so the hot path allocates nothing.
/// </summary>
internal interface ISanitizerDriver
{
    /// <summary>Creates a domain (its own IO page table) and returns its handle.</summary>
    int CreateDomain(string label);

    /// <summary>iommu:map: map the mirror page table, then the sanitizer's map hook.</summary>
    void Map(int domain, ulong iova, ulong paddr, ulong size, List<SanitizerReport> reports);

    /// <summary>iommu:unmap: unmap_begin, unmap the mirror page table by what the trace says went, unmap_end.</summary>
    void Unmap(int domain, ulong iova, ulong size, ulong unmapped, List<SanitizerReport> reports);

    /// <summary>Maps the mirror page table only, without the sanitizer's map hook: a range the real page table
    /// held but the sanitizer never counted (the half-done map of a failed map call).</summary>
    void MapPageTableOnly(int domain, ulong iova, ulong paddr, ulong size);

    /// <summary>The page allocator's check of <paramref name="count"/> pages from <paramref name="pfn"/> (alloc or free).</summary>
    void CheckPages(ulong pfn, ulong count, List<SanitizerReport> reports);

    /// <summary>The physical address <paramref name="iova"/> translates to in the domain's mirror page table.</summary>
    bool TryTranslate(int domain, ulong iova, out ulong paddr);
}
