namespace IommuSan.Model.Iommu;

/// <summary>Results of an IOMMU map, with the errno the kernel returns for each (include/uapi/asm-generic/errno-base.h).</summary>
internal enum IommuStatus
{
    Ok = 0,

    /// <summary>-ENOMEM: a page-table page could not be allocated.</summary>
    NoMemory = -12,

    /// <summary>-EEXIST: something is already mapped there (io-pgtable-arm's answer).</summary>
    AlreadyMapped = -17,

    /// <summary>-EINVAL: iova, paddr or size not aligned to the domain's smallest page size.</summary>
    InvalidArgument = -22,

    /// <summary>-ERANGE: the iova is beyond the domain's input address size.</summary>
    OutOfRange = -34,
}

/// <summary>What a page table does when asked to unmap part of a larger (block) mapping.</summary>
internal enum UnmapBehaviour
{
    /// <summary>
    /// Refuse: unmap nothing and return 0, as io-pgtable-arm does since it dropped block splitting
    /// (the IOMMU core then stops the unmap there and returns what it had unmapped).
    /// </summary>
    RefusePartialBlock,

    /// <summary>
    /// Remove the whole block and return its size, more than was asked, as the Intel VT-d driver does
    /// ("cope with horrid API which requires us to unmap more than the size argument").
    /// </summary>
    UnmapWholeBlock,
}

/// <summary>A leaf of an IO page table: [Iova, Iova + Size) translates to [Paddr, Paddr + Size).</summary>
internal readonly record struct IoLeaf(ulong Iova, ulong Paddr, ulong Size);

/// <summary>
/// The result of walking an IO page table at an iova: the leaf that translates it, or, when nothing
/// does, the span of the empty entry the walk stopped at (so callers can skip a whole hole at once).
/// </summary>
internal readonly record struct IoWalk(bool Mapped, ulong Iova, ulong Paddr, ulong Size)
{
    public ulong End => Iova + Size;
}
