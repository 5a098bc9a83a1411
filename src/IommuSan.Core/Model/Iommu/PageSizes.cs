using System.Numerics;

namespace IommuSan.Model.Iommu;

/// <summary>
/// Page size arithmetic on a pgsize_bitmap (bit n set: the IOMMU can map 2^n-byte pages), as the
/// IOMMU core does it.
/// </summary>
internal static class PageSizes
{
    public const ulong Size4K = 1UL << 12;
    public const ulong Size16K = 1UL << 14;
    public const ulong Size64K = 1UL << 16;
    public const ulong Size2M = 1UL << 21;
    public const ulong Size32M = 1UL << 25;
    public const ulong Size512M = 1UL << 29;
    public const ulong Size1G = 1UL << 30;

    /// <summary>The granule: the smallest page size, 1 &lt;&lt; __ffs(pgsize_bitmap).</summary>
    public static ulong Granule(ulong pgsizeBitmap) => 1UL << BitOperations.TrailingZeroCount(pgsizeBitmap);

    /// <summary>
    /// iommu_pgsize: the largest page size that fits both the alignment of iova|paddr and the
    /// remaining length; <paramref name="count"/> says how many such pages to map in one go, stopping
    /// early where the next larger page size becomes usable (so a long run switches up to it).
    /// </summary>
    public static ulong Pick(ulong pgsizeBitmap, ulong iova, ulong paddr, ulong size, out ulong count)
    {
        // Page sizes no larger than what is left ...
        var sizes = pgsizeBitmap & Mask(63 - BitOperations.LeadingZeroCount(size));

        // ... and no larger than the alignment of both addresses.
        var addrMerge = iova | paddr;
        if (addrMerge != 0)
        {
            sizes &= Mask(BitOperations.TrailingZeroCount(addrMerge));
        }

        if (sizes == 0)
        {
            throw new InvalidOperationException($"No page size of 0x{pgsizeBitmap:x} fits iova 0x{iova:x} paddr 0x{paddr:x} size 0x{size:x}.");
        }

        var idx = 63 - BitOperations.LeadingZeroCount(sizes);
        var pgsize = 1UL << idx;
        var left = size;

        // Is a bigger page size usable later in this range? Then stop where it becomes aligned.
        var bigger = pgsizeBitmap & ~Mask(idx);
        if (bigger != 0)
        {
            var next = 1UL << BitOperations.TrailingZeroCount(bigger);
            if (((iova ^ paddr) & (next - 1)) == 0)
            {
                var offset = next - (addrMerge & (next - 1));
                if (offset + next <= size)
                {
                    left = offset;
                }
            }
        }

        count = left >> idx;
        return pgsize;
    }

    /// <summary>Bits 0..<paramref name="high"/> set (GENMASK(high, 0)).</summary>
    private static ulong Mask(int high) => high >= 63 ? ulong.MaxValue : (1UL << (high + 1)) - 1;
}
