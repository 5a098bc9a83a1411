namespace IommuSan.Trace.Events;

/// <summary>The events <c>check</c> understands, whatever source or kprobe group they came from.</summary>
internal enum CheckEventKind : byte
{
    /// <summary>Not an event the check uses.</summary>
    None,

    /// <summary><c>iommu:map</c>: iova, paddr, size (emitted after the page table update succeeded).</summary>
    IommuMap,

    /// <summary><c>iommu:unmap</c>: iova, size (requested), unmapped_size (done).</summary>
    IommuUnmap,

    /// <summary><c>iommu:attach_device_to_domain</c>: device (no domain pointer).</summary>
    IommuAttachDevice,

    /// <summary><c>iommu:add_device_to_group</c>: group id, device.</summary>
    IommuAddDeviceToGroup,

    /// <summary><c>iommu:io_page_fault</c>: device, driver, iova, flags.</summary>
    IommuPageFault,

    /// <summary><c>kmem:mm_page_alloc</c>: pfn (all ones when the allocation failed), order, gfp_flags.</summary>
    PageAlloc,

    /// <summary><c>kmem:mm_page_free</c>: pfn, order.</summary>
    PageFree,

    /// <summary><c>kmem:mm_page_free_batched</c>: pfn (order 0); usually the second event of one free.</summary>
    PageFreeBatched,

    /// <summary><c>kmem:kmalloc</c>: call_site, ptr, bytes_req, bytes_alloc.</summary>
    Kmalloc,

    /// <summary><c>kmem:kfree</c>: call_site, ptr.</summary>
    Kfree,

    /// <summary><c>dma:dma_map_page</c> / <c>dma_map_phys</c> / <c>dma_map_resource</c>: device, phys_addr, dma_addr, size.</summary>
    DmaMap,

    /// <summary><c>dma:dma_unmap_page</c> / <c>dma_unmap_phys</c> / <c>dma_unmap_resource</c>: device, dma addr, size.</summary>
    DmaUnmap,

    /// <summary><c>dma:dma_map_sg</c>: device and arrays of dma addresses, lengths and physical addresses.</summary>
    DmaMapSg,

    /// <summary><c>dma:dma_unmap_sg</c>: device and the physical addresses only.</summary>
    DmaUnmapSg,

    /// <summary>A kprobe at the entry of an IOMMU call that records the domain pointer and an iova
    /// (<c>__iommu_map</c>, <c>iommu_map</c>, <c>iommu_map_sg</c>, <c>__iommu_unmap</c>...).</summary>
    ProbeDomainCall,

    /// <summary>A kretprobe (any function): closes the innermost open call of that function on its CPU.</summary>
    ProbeReturn,

    /// <summary>A kprobe recording a domain pointer and a device name (<c>__iommu_attach_device</c>).</summary>
    ProbeAttachDevice,

    /// <summary>A kprobe recording a domain pointer being freed (<c>iommu_domain_free</c>): the pointer may be reused.</summary>
    ProbeDomainFree,
}
