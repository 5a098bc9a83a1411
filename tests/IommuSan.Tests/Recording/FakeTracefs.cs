namespace IommuSan.Tests.Recording;

/// <summary>
/// A temporary directory laid out like tracefs (available_events, available_filter_functions,
/// kprobe_events, instances/) with the contents of one kernel version, for feature detection and
/// probe set-up tests that must not touch the machine's real tracefs.
/// </summary>
internal sealed class FakeTracefs : IDisposable
{
    /// <summary>Events of Debian's 6.12 kernel that IommuSan records (from the shared captures).</summary>
    public static readonly string[] Linux612Events =
    [
        "iommu:add_device_to_group", "iommu:attach_device_to_domain", "iommu:io_page_fault", "iommu:map",
        "iommu:remove_device_from_group", "iommu:unmap", "dma:dma_map_page", "dma:dma_unmap_page", "dma:dma_map_sg",
        "dma:dma_unmap_sg", "dma:dma_map_resource", "dma:dma_unmap_resource", "kmem:mm_page_alloc", "kmem:mm_page_free",
        "kmem:mm_page_free_batched", "kmem:kmalloc", "kmem:kfree", "sched:sched_switch",
    ];

    /// <summary>Probe-able functions of 6.12: __iommu_map exists, iommu_map_nosync does not.</summary>
    public static readonly string[] Linux612Functions =
    [
        "iommu_map", "__iommu_map", "iommu_map_sg", "iommu_unmap", "iommu_unmap_fast", "__iommu_unmap",
        "iommu_domain_free", "__iommu_attach_device", "iommu_dma_map_page", "iommu_dma_unmap_page", "alloc_pages_bulk_noprof",
    ];

    /// <summary>7.0: iommu_map_nosync replaces __iommu_map, the DMA layer maps physical addresses.</summary>
    public static readonly string[] Linux70Functions =
    [
        "iommu_map", "iommu_map_nosync", "iommu_map_sg", "iommu_unmap", "__iommu_unmap", "iommu_domain_free",
        "__iommu_attach_device", "iommu_dma_map_phys", "iommu_dma_unmap_phys",
    ];

    /// <summary>Before 6.12 there is no dma event system.</summary>
    public static readonly string[] Linux66Events =
    [
        "iommu:map", "iommu:unmap", "iommu:attach_device_to_domain", "kmem:mm_page_alloc", "kmem:mm_page_free",
        "kmem:mm_page_free_batched", "kmem:kmalloc", "kmem:kfree",
    ];

    public FakeTracefs(IEnumerable<string> events, IEnumerable<string> functions, bool kprobeEvents = true, string existingKprobes = "")
    {
        Root = Path.Combine(Path.GetTempPath(), "iommusan-tracefs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(Root, "instances"));
        File.WriteAllText(Path.Combine(Root, "available_events"), string.Join('\n', events) + "\n");
        File.WriteAllText(Path.Combine(Root, "available_filter_functions"), string.Join('\n', functions) + "\n");
        if (kprobeEvents)
        {
            File.WriteAllText(Path.Combine(Root, "kprobe_events"), existingKprobes);
        }
    }

    public string Root { get; }

    public string KprobeEventsPath => Path.Combine(Root, "kprobe_events");

    public string[] KprobeLines() => File.ReadAllLines(KprobeEventsPath);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
