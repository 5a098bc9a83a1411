namespace IommuSan.Model.Iommu;

/// <summary>
/// An IOMMU domain: one IO address space with its page table and pgsize_bitmap. The sanitizer
/// counts in steps of <see cref="Granule"/> and reads translations through <see cref="IovaToPhys"/>.
/// </summary>
internal sealed class IommuDomain
{
    /// <summary>VT-d second-stage tables: 4K pages, 2M and 1G superpages.</summary>
    public const ulong VtdPgsizeBitmap = PageSizes.Size4K | PageSizes.Size2M | PageSizes.Size1G;

    /// <summary>SMMUv3 with a 4K granule (io-pgtable-arm): 4K pages, 2M and 1G blocks.</summary>
    public const ulong ArmLpae4KPgsizeBitmap = PageSizes.Size4K | PageSizes.Size2M | PageSizes.Size1G;

    /// <summary>io-pgtable-arm with a 16K granule: 16K pages, 32M blocks.</summary>
    public const ulong ArmLpae16KPgsizeBitmap = PageSizes.Size16K | PageSizes.Size32M;

    /// <summary>io-pgtable-arm with a 64K granule: 64K pages, 512M blocks.</summary>
    public const ulong ArmLpae64KPgsizeBitmap = PageSizes.Size64K | PageSizes.Size512M;

    public IommuDomain(int id, ulong pgsizeBitmap, UnmapBehaviour behaviour, int iovaBits = IoPageTable.DefaultIovaBits, string? name = null)
    {
        Id = id;
        Name = name ?? $"domain{id}";
        PageTable = new IoPageTable(pgsizeBitmap, behaviour, iovaBits);
    }

    public int Id { get; }

    public string Name { get; }

    public IoPageTable PageTable { get; }

    public ulong PgsizeBitmap => PageTable.PgsizeBitmap;

    /// <summary>The smallest page size, 1 &lt;&lt; __ffs(pgsize_bitmap): the sanitizer's counting step.</summary>
    public ulong Granule => PageTable.Granule;

    public ulong IovaToPhys(ulong iova) => PageTable.IovaToPhys(iova);

    /// <summary>The sanitizer that last registered this domain: lets it skip a registry lookup on every call.</summary>
    internal object? SeenBySanitizer { get; set; }

    public override string ToString() => Name;
}
