using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;
using ModelFindingKind = IommuSan.Model.Sanitizer.FindingKind;

namespace IommuSan.Replay;

/// <summary>
/// Drives the model for a replay (docs/model.md): one <see cref="IommuDomain"/> (a real IO page
/// table with the domains' pgsize_bitmap) per attributed domain, one <see cref="IommuDebugPagealloc"/>
/// over a <see cref="PageExt"/> for an unknown memory map (a trace names pfns, not the RAM layout).
/// For iommu:map the mirror page table is mapped and then the sanitizer's map hook runs; for
/// iommu:unmap, unmap_begin, the mirror's unmap of what the trace says was removed, unmap_end:
/// the same order as the kernel's IOMMU core.
/// </summary>
internal sealed class ModelSanitizerDriver : ISanitizerDriver, IFindingSink
{
    private readonly List<IommuDomain> _domains = [];
    private readonly IommuDebugPagealloc _sanitizer;
    private readonly ulong _pgsizeBitmap;
    private readonly UnmapBehaviour _unmapBehaviour;
    private List<SanitizerReport>? _sink;

    public ModelSanitizerDriver(CheckOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _pgsizeBitmap = options.PgsizeBitmap;

        // The trace's unmapped_size says what the real page table removed; the mirror follows it, and a
        // page table that removes whole blocks (VT-d) is the one that can report more than asked.
        _unmapBehaviour = UnmapBehaviour.UnmapWholeBlock;
        var pageExt = PageExt.ForUnknownMemoryMap(options.CpuPageShift);
        var mode = options.Mode == CheckMode.Kernel ? SanitizerMode.KernelExact : SanitizerMode.Precise;

        // The replay attributes mappings itself; the sanitizer's slow mapping search is not needed.
        _sanitizer = new IommuDebugPagealloc(pageExt, mode, this) { ResolveMappings = false };
    }

    public int CreateDomain(string label)
    {
        var id = _domains.Count;
        _domains.Add(new IommuDomain(id, _pgsizeBitmap, _unmapBehaviour, IoPageTable.DefaultIovaBits, label));
        return id;
    }

    public void Map(int domain, ulong iova, ulong paddr, ulong size, List<SanitizerReport> reports)
    {
        var d = _domains[domain];
        _sink = reports;
        try
        {
            if (size != 0 && paddr != 0 && paddr + size >= paddr)
            {
                // Best effort: the kernel's page table accepted this map, so the mirror should too; if it
                // does not (an iova the replay still thinks is mapped), the counts still follow the trace.
                _ = d.PageTable.Map(iova, paddr, size, out _);
            }

            _sanitizer.Map(d, paddr, size, iova);
        }
        finally
        {
            _sink = null;
        }
    }

    public void Unmap(int domain, ulong iova, ulong size, ulong unmapped, List<SanitizerReport> reports)
    {
        var d = _domains[domain];
        _sink = reports;
        try
        {
            _sanitizer.UnmapBegin(d, iova, size, unmapped);
            var (start, length) = IommuDebugPagealloc.RemovedRange(iova, size, unmapped);
            if (length != 0 && start + length > start)
            {
                _ = d.PageTable.Unmap(start, length);
            }

            _sanitizer.UnmapEnd(d, iova, size, unmapped);
        }
        finally
        {
            _sink = null;
        }
    }

    public void MapPageTableOnly(int domain, ulong iova, ulong paddr, ulong size)
    {
        if (size != 0 && paddr != 0 && paddr + size > paddr)
        {
            _ = _domains[domain].PageTable.Map(iova, paddr, size, out _);
        }
    }

    public void CheckPages(ulong pfn, ulong count, List<SanitizerReport> reports)
    {
        _sink = reports;
        try
        {
            _sanitizer.CheckUnmapped(pfn, (int)Math.Min(count, int.MaxValue));
        }
        finally
        {
            _sink = null;
        }
    }

    public bool TryTranslate(int domain, ulong iova, out ulong paddr)
    {
        var walk = _domains[domain].PageTable.Walk(iova);
        paddr = walk.Mapped ? _domains[domain].IovaToPhys(iova) : 0;
        return walk.Mapped;
    }

    void IFindingSink.Report(in SanitizerFinding finding)
    {
        var kind = finding.Kind switch
        {
            ModelFindingKind.PageLeak => SanitizerReportKind.PageLeak,
            ModelFindingKind.UnbalancedUnmap => SanitizerReportKind.UnbalancedUnmap,
            ModelFindingKind.CounterOverflow => SanitizerReportKind.CounterOverflow,
            ModelFindingKind.UnmappedMoreThanRequested => SanitizerReportKind.UnmappedMoreThanRequested,
            _ => SanitizerReportKind.InvalidMap,
        };
        _sink?.Add(new SanitizerReport(kind, finding.Pfn, finding.Mapping?.Iova ?? 0, finding.Mapping?.Size ?? 0, finding.Count));
    }
}
