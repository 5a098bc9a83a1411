namespace IommuSan.Findings;

/// <summary>What a finding says happened. The ids (<see cref="FindingKinds.Id"/>) are part of the JSON contract.</summary>
internal enum FindingKind
{
    /// <summary>A page allocated or freed while an IOMMU mapping still covered it (the kernel's "Detected page leak!").</summary>
    PageLeak,

    /// <summary>An unmap would take a page's mapping count below zero, and the trace proves the mapping was never counted.</summary>
    UnbalancedUnmap,

    /// <summary>The page table removed more than the unmap asked for (the kernel's WARN_ON_ONCE in unmap_end).</summary>
    UnmappedMoreThanRequested,

    /// <summary>A map of physical address 0, or one whose end overflows (the kernel WARNs and counts nothing).</summary>
    InvalidMap,

    /// <summary>A page's mapping count overflowed.</summary>
    CounterOverflow,

    /// <summary>Informational: a mapping still live when the trace ends (not a failure).</summary>
    LiveAtEnd,
}

internal static class FindingKinds
{
    public static string Id(FindingKind kind) => kind switch
    {
        FindingKind.PageLeak => "page-leak",
        FindingKind.UnbalancedUnmap => "unbalanced-unmap",
        FindingKind.UnmappedMoreThanRequested => "unmapped-more-than-requested",
        FindingKind.InvalidMap => "invalid-map",
        FindingKind.CounterOverflow => "counter-overflow",
        FindingKind.LiveAtEnd => "live-at-end",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Every kind that fails a run (live-at-end does not).</summary>
    public static bool Fails(FindingKind kind) => kind != FindingKind.LiveAtEnd;

    public static IReadOnlyList<FindingKind> All { get; } =
        [FindingKind.PageLeak, FindingKind.UnbalancedUnmap, FindingKind.UnmappedMoreThanRequested, FindingKind.InvalidMap, FindingKind.CounterOverflow, FindingKind.LiveAtEnd];
}

/// <summary>One trace event named as evidence: what, when, where, by whom.</summary>
/// <param name="Name">Event name as traced (<c>mm_page_free</c>, <c>map</c>, <c>unmap</c>).</param>
/// <param name="TimeNs">Trace clock, nanoseconds.</param>
/// <param name="Cpu">CPU the event was recorded on.</param>
/// <param name="Pid">Task id.</param>
/// <param name="Comm">Task name.</param>
/// <param name="Detail">The event's relevant fields, as a kernel developer would print them (<c>pfn=0xf34a order=0</c>).</param>
internal sealed record EvidenceEvent(string Name, long TimeNs, int Cpu, int Pid, string Comm, string Detail);

/// <summary>How a map or unmap was tied to its domain.</summary>
internal enum AttributionSource
{
    /// <summary>A kprobe recorded the domain pointer of the call that emitted the event.</summary>
    Kprobe,

    /// <summary>A dma:* event of the same task on the same CPU named the device and the same IOVA.</summary>
    DmaEvent,

    /// <summary>The only domain in which the IOVA was live (an IOVA is live at most once per domain).</summary>
    Inference,

    /// <summary>No evidence: kept in a domain of its own ("unattributed").</summary>
    None,
}

/// <summary>A mapping (one iommu:map, trimmed by later partial unmaps) as a report shows it.</summary>
internal sealed class MappingInfo
{
    public required long Serial { get; init; }

    /// <summary>The domain pointer when a kprobe recorded it, else null.</summary>
    public ulong? DomainPointer { get; init; }

    /// <summary>Human label of the domain: the pointer, the device, or "unattributed-N".</summary>
    public required string DomainLabel { get; init; }

    /// <summary>The device(s) attached to the domain, comma separated, when known.</summary>
    public string? Device { get; set; }

    public required ulong Iova { get; init; }

    public required ulong Size { get; init; }

    public required ulong Paddr { get; init; }

    public required EvidenceEvent MappedBy { get; init; }

    public required AttributionSource Attribution { get; init; }

    /// <summary>When an unmap removed it (end of the exposure window), or null while live.</summary>
    public long? UnmappedAtNs { get; set; }

    public EvidenceEvent? UnmappedBy { get; set; }
}

/// <summary>Who allocated a page, as page_owner would show it: the mm_page_alloc that handed it out.</summary>
internal sealed record PageOwnerInfo(ulong Pfn, int Order, ulong GfpFlags, EvidenceEvent Allocation, long? FreedAtNs);

/// <summary>A later allocation or free of a leaked page while the same mapping stayed.</summary>
internal sealed record LaterEvent(EvidenceEvent Event, int Order);

/// <summary>One finding: a kernel bug the trace proves (or, for live-at-end, information).</summary>
internal sealed class Finding
{
    public required FindingKind Kind { get; init; }

    /// <summary>The page concerned (page-leak, unbalanced-unmap, counter-overflow), counting CPU pages.</summary>
    public ulong? Pfn { get; init; }

    /// <summary>Order of the alloc/free event that detected it (page-leak).</summary>
    public int? Order { get; init; }

    /// <summary>The event that triggered the report (the free, the alloc, the unmap, the map).</summary>
    public required EvidenceEvent Event { get; init; }

    /// <summary>The WARN-like one-line summary.</summary>
    public required string Message { get; init; }

    public List<MappingInfo> Mappings { get; } = [];

    /// <summary>The page owner; null when the trace never showed this page being allocated.</summary>
    public PageOwnerInfo? Owner { get; init; }

    /// <summary>Later allocations/frees of the same page while the mapping stayed (bounded; see <see cref="LaterEventsTotal"/>).</summary>
    public List<LaterEvent> LaterEvents { get; } = [];

    public int LaterEventsTotal { get; set; }

    /// <summary>Diagnostics (data loss) that could have caused or hidden this finding.</summary>
    public List<string> PossiblyAffectedBy { get; } = [];

    /// <summary>Explanations that qualify the finding (e.g. a kernel-mode counter left behind by an oversized unmap).</summary>
    public List<string> Notes { get; } = [];

    public bool Fails => FindingKinds.Fails(Kind);
}

/// <summary>
/// An unmap the trace cannot tie to one domain: several domains had the IOVA live and no event
/// said which one went. Nothing is reported for the pages involved while the doubt lasts.
/// </summary>
internal sealed class Ambiguity
{
    public required EvidenceEvent Unmap { get; init; }

    public required ulong Iova { get; init; }

    public required ulong Size { get; init; }

    /// <summary>The candidate mappings (one per domain), each naming its page.</summary>
    public List<MappingInfo> Candidates { get; } = [];

    /// <summary>The page each candidate maps at <see cref="Iova"/> (same order as <see cref="Candidates"/>).</summary>
    public List<ulong> CandidatePfns { get; } = [];

    /// <summary>Page events on a candidate's page that would be a page leak if that candidate was the one still mapped.</summary>
    public List<EvidenceEvent> PageEventsInDoubt { get; } = [];

    public int PageEventsInDoubtTotal { get; set; }

    /// <summary>Set when later evidence decided which candidate had gone.</summary>
    public string? Resolution { get; set; }
}
