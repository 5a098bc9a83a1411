namespace IommuSan.Trace.Events;

/// <summary>
/// One decoded event the check uses: a typed view copied out of a <c>TraceEvent</c> payload (whose
/// memory the source reuses), read through the event's own format. Only the members that
/// <see cref="Kind"/> documents are meaningful; the rest are zero. A value type, so decoding and
/// queueing allocate nothing; <see cref="Device"/> and <see cref="Comm"/> are shared (interned) strings.
/// </summary>
internal readonly record struct CheckEvent
{
    public CheckEventKind Kind { get; init; }

    /// <summary>Trace clock, integer nanoseconds.</summary>
    public long TimeNs { get; init; }

    public int Cpu { get; init; }

    /// <summary>The task (thread id) the event was emitted in; the interrupted task for irq context.</summary>
    public int Pid { get; init; }

    /// <summary>Task name as the source gave it.</summary>
    public string Comm { get; init; }

    /// <summary>The event's own name (<c>mm_page_free</c>, <c>__iommu_map</c>), for reports.</summary>
    public string Name { get; init; }

    /// <summary>iommu:map/unmap/io_page_fault iova; the iova argument of a domain-carrying kprobe.</summary>
    public ulong Iova { get; init; }

    /// <summary>iommu:map paddr (bytes); kprobe paddr when recorded.</summary>
    public ulong Paddr { get; init; }

    /// <summary>iommu:map size, iommu:unmap requested size, dma map/unmap size, kprobe size (0 when the probe has none).</summary>
    public ulong Size { get; init; }

    /// <summary>iommu:unmap unmapped_size: what the page table really removed.</summary>
    public ulong UnmappedSize { get; init; }

    /// <summary>kmem page events: pfn, counting CPU pages. <see cref="ulong.MaxValue"/> for a failed allocation.</summary>
    public ulong Pfn { get; init; }

    /// <summary>kmem page events: allocation order (batched frees are order 0).</summary>
    public int Order { get; init; }

    /// <summary>mm_page_alloc gfp_flags (raw bits).</summary>
    public ulong GfpFlags { get; init; }

    /// <summary>dma map/unmap: the dma (IOVA) address; dma_map_sg: the lowest dma address of the list.</summary>
    public ulong DmaAddr { get; init; }

    /// <summary>dma_map_sg: end (exclusive) of the highest entry; dma map/unmap: DmaAddr + Size.</summary>
    public ulong DmaEnd { get; init; }

    /// <summary>dma map: phys_addr; dma_map_sg / dma_unmap_sg: the first physical address of the list.</summary>
    public ulong PhysAddr { get; init; }

    /// <summary>dma_map_sg / dma_unmap_sg: number of entries present in the event.</summary>
    public int SgEntries { get; init; }

    /// <summary>dma_map_sg: the kernel capped the arrays (TRUNCATED): <see cref="DmaEnd"/> may be short.</summary>
    public bool Truncated { get; init; }

    /// <summary>dma events, attach/add/page-fault tracepoints and the attach kprobe: the device name.</summary>
    public string? Device { get; init; }

    /// <summary>Domain pointer recorded by a kprobe.</summary>
    public ulong Domain { get; init; }

    /// <summary>Entry kprobe: the probed address (<c>__probe_ip</c>); kretprobe: the probed function (<c>__probe_func</c>).
    /// An entry probe at offset 0 and a return probe of the same function carry the same value.</summary>
    public ulong ProbeAddress { get; init; }

    /// <summary>io_page_fault flags, add_device_to_group group id; for a domain-carrying kprobe, 1 when it records
    /// a paddr (the entry of a map call such as <c>__iommu_map</c>), else 0.</summary>
    public long Flags { get; init; }

    /// <summary>The event at a glance, for messages (no allocation on the replay path).</summary>
    public override string ToString() => $"{TimeNs} [{Cpu:000}] {Comm}-{Pid} {Name} {Kind}";
}
