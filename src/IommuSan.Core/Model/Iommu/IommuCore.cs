using IommuSan.Model.Sanitizer;

namespace IommuSan.Model.Iommu;

/// <summary>Which error path a map that fails half way takes.</summary>
internal enum MapErrorPath
{
    /// <summary>
    /// Linux 7.0.0 to 7.0.10 (CVE-2026-64152): the part already mapped is unmapped through
    /// iommu_unmap, whose unmap_begin decrements counters the failed map never incremented.
    /// </summary>
    Cve2026_64152,

    /// <summary>The fix: count (and trace) what was mapped first, then unmap it, so counters balance.</summary>
    Fixed,
}

/// <summary>Receives the IOMMU core's trace events (iommu:map and iommu:unmap) as the kernel emits them.</summary>
internal interface IIommuTraceListener
{
    void OnMap(IommuDomain domain, ulong iova, ulong paddr, ulong size);

    void OnUnmap(IommuDomain domain, ulong iova, ulong size, ulong unmappedSize);
}

/// <summary>
/// The IOMMU core's map and unmap (iommu_map / __iommu_unmap in drivers/iommu/iommu.c): alignment
/// to the smallest page size, the largest page size that fits at each step, an unmap that stops
/// at the first hole, the map error path, and the sanitizer hooks in the kernel's order.
/// </summary>
internal sealed class IommuCore(IommuDebugPagealloc? sanitizer, MapErrorPath errorPath = MapErrorPath.Fixed, IIommuTraceListener? trace = null)
{
    public IommuDebugPagealloc? Sanitizer { get; } = sanitizer;

    public MapErrorPath ErrorPath { get; } = errorPath;

    /// <summary>
    /// iommu_map: maps [iova, iova + size) to [paddr, paddr + size). Misalignment to the granule is
    /// -EINVAL with nothing mapped; a page-table failure half way unmaps what was mapped.
    /// </summary>
    public IommuStatus Map(IommuDomain domain, ulong iova, ulong paddr, ulong size)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var table = domain.PageTable;
        if (((iova | paddr | size) & (domain.Granule - 1)) != 0 || iova + size < iova || paddr + size < paddr)
        {
            return IommuStatus.InvalidArgument;
        }

        ulong mapped = 0;
        var status = IommuStatus.Ok;
        while (mapped < size)
        {
            var pgsize = PageSizes.Pick(domain.PgsizeBitmap, iova + mapped, paddr + mapped, size - mapped, out var count);
            status = table.MapPages(iova + mapped, paddr + mapped, pgsize, count, out var done);
            mapped += done;
            if (status != IommuStatus.Ok)
            {
                break;
            }
        }

        if (status != IommuStatus.Ok)
        {
            if (ErrorPath == MapErrorPath.Fixed && mapped != 0)
            {
                // The fix: what was mapped is counted and traced, so the unmap below balances it.
                trace?.OnMap(domain, iova, paddr, mapped);
                HookMap(domain, iova, paddr, mapped);
            }

            Unmap(domain, iova, mapped);
            return status;
        }

        trace?.OnMap(domain, iova, paddr, size);
        HookMap(domain, iova, paddr, size);
        return IommuStatus.Ok;
    }

    /// <summary>
    /// __iommu_unmap: unmaps [iova, iova + size) and returns the bytes unmapped, which is less when
    /// a hole or a refused block stops it and more when the page table removed a whole block.
    /// </summary>
    public ulong Unmap(IommuDomain domain, ulong iova, ulong size)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (((iova | size) & (domain.Granule - 1)) != 0 || iova + size < iova)
        {
            return 0;
        }

        var hooked = Sanitizer is { Enabled: true };
        if (hooked)
        {
            Sanitizer!.UnmapBegin(domain, iova, size);
        }

        var table = domain.PageTable;
        ulong unmapped = 0;
        while (unmapped < size)
        {
            var at = iova + unmapped;
            var pgsize = PageSizes.Pick(domain.PgsizeBitmap, at, at, size - unmapped, out var count);
            var done = table.UnmapPages(at, pgsize, count);
            if (done == 0)
            {
                break;
            }

            unmapped += done;
        }

        trace?.OnUnmap(domain, iova, size, unmapped);
        if (hooked)
        {
            Sanitizer!.UnmapEnd(domain, iova, size, unmapped);
        }

        return unmapped;
    }

    private void HookMap(IommuDomain domain, ulong iova, ulong paddr, ulong size)
    {
        if (Sanitizer is { Enabled: true } s)
        {
            s.Map(domain, paddr, size, iova);
        }
    }
}
