using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Model;

/// <summary>
/// A small modelled machine wired as the kernel wires it: RAM (and an MMIO window) in a physical
/// memory map, page_ext, page owner, the sanitizer booted from a kernel command line, the buddy
/// allocator calling the sanitizer's check, and the IOMMU core calling its map/unmap hooks.
/// </summary>
internal sealed class ModelMachine
{
    /// <summary>Where RAM starts (as on many arm64 boards): keeps physical address 0 out of RAM.</summary>
    public const ulong RamBase = 0x8000_0000;

    /// <summary>A 256 MiB device window below RAM: mappable by the IOMMU, no struct page.</summary>
    public const ulong MmioBase = 0x4000_0000;

    public const ulong MmioSize = 0x1000_0000;

    public const string EnabledCommandLine = "console=ttyS0 iommu.debug_pagealloc=1 page_owner=on";

    private int _nextDomainId;

    public ModelMachine(
        int pageShift,
        ulong ramBytes,
        SanitizerMode mode,
        string commandLine = EnabledCommandLine,
        MapErrorPath errorPath = MapErrorPath.Fixed,
        IFindingSink? sink = null,
        IIommuTraceListener? trace = null)
    {
        Memory = new PhysicalMemory(pageShift,
        [
            new PhysicalRange(MmioBase, MmioSize, PhysicalRangeKind.Mmio),
            new PhysicalRange(RamBase, ramBytes, PhysicalRangeKind.Ram),
        ]);
        PageExt = PageExt.ForMemoryMap(Memory);
        Owner = new PageOwner();
        Findings = sink as FindingList ?? new FindingList();
        Sanitizer = IommuDebugPagealloc.Boot(commandLine, PageExt, mode, sink ?? Findings, Owner);
        Allocator = new PageAllocator(Memory, Owner, Sanitizer);
        Core = new IommuCore(Sanitizer, errorPath, trace);
    }

    public PhysicalMemory Memory { get; }

    public PageExt PageExt { get; }

    public PageOwner Owner { get; }

    /// <summary>The findings, when no other sink was given.</summary>
    public FindingList Findings { get; }

    public IommuDebugPagealloc Sanitizer { get; }

    public PageAllocator Allocator { get; }

    public IommuCore Core { get; }

    public int PageShift => Memory.PageShift;

    public ulong PageSizeBytes => Memory.PageSizeBytes;

    public IommuDomain NewDomain(ulong pgsizeBitmap, UnmapBehaviour behaviour, string? name = null) =>
        new(++_nextDomainId, pgsizeBitmap, behaviour, name: name);

    public ulong Paddr(ulong pfn) => pfn << PageShift;

    public ulong Pfn(ulong paddr) => paddr >> PageShift;
}
