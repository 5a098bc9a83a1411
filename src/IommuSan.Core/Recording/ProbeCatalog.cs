namespace IommuSan.Recording;

/// <summary>Entry probe (<c>p:</c>) or return probe (<c>r10:</c>, up to 10 concurrent instances).</summary>
internal enum ProbeKind
{
    Entry,
    Return,
}

/// <summary>
/// One kprobe event IommuSan may add: event <c>kprobes/Name</c> on <c>Function</c>, with fetch
/// arguments written against argument slots <c>{a0}</c>..<c>{a4}</c> that an architecture turns
/// into registers. Several specs may share a name: they are alternatives for different kernel
/// versions, and the first whose function exists is used.
/// </summary>
internal sealed record ProbeSpec(string Name, string Function, ProbeKind Kind, string Arguments)
{
    public const string Group = "kprobes";

    /// <summary>How trace-cmd's <c>-e</c> and tracefs paths name a probe's event: <c>kprobes:NAME</c>.</summary>
    public static string EventNameOf(string name) => Group + ":" + name;

    /// <summary>The kprobe_events line, with each <c>{aN}</c> replaced by <paramref name="argument"/>(N).</summary>
    public string Render(Func<int, string> argument)
    {
        var args = Arguments;
        for (var i = 0; i < 5; i++)
        {
            args = args.Replace("{a" + i + "}", argument(i), StringComparison.Ordinal);
        }

        var prefix = Kind == ProbeKind.Entry ? "p" : "r10";
        return $"{prefix}:{Group}/{Name} {Function} {args}";
    }

    public string Render(KprobeArchitecture arch) => Render(i => arch.ArgumentRegisters[i]);
}

/// <summary>
/// The kprobes that give each IOMMU map/unmap its domain (the tracepoints carry none) and each
/// DMA-API call its device. Event names match the project's shared captures
/// (/work/shared/captures/README.md) so one decoder reads captures from any kernel version.
/// </summary>
internal static class ProbeCatalog
{
    public static IReadOnlyList<ProbeSpec> All { get; } =
    [
        new("iommu_map", "iommu_map", ProbeKind.Entry, "domain={a0} iova={a1} paddr={a2} size={a3} prot={a4}"),
        // The function whose end emits iommu:map: __iommu_map up to 6.x, iommu_map_nosync from 7.0.
        new("__iommu_map", "__iommu_map", ProbeKind.Entry, "domain={a0} iova={a1} paddr={a2} size={a3} prot={a4}"),
        new("__iommu_map", "iommu_map_nosync", ProbeKind.Entry, "domain={a0} iova={a1} paddr={a2} size={a3} prot={a4}"),
        new("__iommu_map_ret", "__iommu_map", ProbeKind.Return, "ret=$retval:s32"),
        new("__iommu_map_ret", "iommu_map_nosync", ProbeKind.Return, "ret=$retval:s32"),
        new("iommu_map_sg", "iommu_map_sg", ProbeKind.Entry, "domain={a0} iova={a1} nents={a3}"),
        new("__iommu_unmap", "__iommu_unmap", ProbeKind.Entry, "domain={a0} iova={a1} size={a2}"),
        new("__iommu_unmap_ret", "__iommu_unmap", ProbeKind.Return, "unmapped=$retval"),
        // struct iommu_domain starts with its type.
        new("iommu_domain_free", "iommu_domain_free", ProbeKind.Entry, "domain={a0} type=+0({a0}):u32"),
        // struct device starts with its kobject, whose first member is the name pointer.
        new("__iommu_attach_device", "__iommu_attach_device", ProbeKind.Entry, "domain={a0} dev=+0(+0({a1})):string"),
        new("iommu_dma_map_page", "iommu_dma_map_page", ProbeKind.Entry, "dev=+0(+0({a0})):string page={a1} offset={a2} size={a3} dir={a4}"),
        new("iommu_dma_unmap_page", "iommu_dma_unmap_page", ProbeKind.Entry, "dev=+0(+0({a0})):string iova={a1} size={a2} dir={a3}"),
        // 7.0 maps physical addresses: iommu_dma_map_phys(dev, phys, size, dir, attrs).
        new("iommu_dma_map_phys", "iommu_dma_map_phys", ProbeKind.Entry, "dev=+0(+0({a0})):string phys={a1} size={a2} dir={a3}"),
        new("iommu_dma_unmap_phys", "iommu_dma_unmap_phys", ProbeKind.Entry, "dev=+0(+0({a0})):string iova={a1} size={a2} dir={a3}"),
    ];
}

/// <summary>The tracepoints IommuSan records: whole systems or single system:event names.</summary>
internal static class EventCatalog
{
    /// <summary>Every event of these systems (dma:* exists from 6.12).</summary>
    public static IReadOnlyList<string> Systems { get; } = ["iommu", "dma"];

    public static IReadOnlyList<string> Events { get; } =
    [
        "kmem:mm_page_alloc",
        "kmem:mm_page_free",
        "kmem:mm_page_free_batched",
        "kmem:kmalloc",
        "kmem:kfree",
    ];
}
