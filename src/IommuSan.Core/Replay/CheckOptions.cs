namespace IommuSan.Replay;

/// <summary>Which sanitizer semantics the replay reproduces.</summary>
internal enum CheckMode
{
    /// <summary>No blind spots: counts every CPU page a mapping covers and accounts for what an unmap really removed.</summary>
    Precise,

    /// <summary>Linux 7.0's IOMMU_DEBUG_PAGEALLOC exactly, its false positives and blind spots included.</summary>
    Kernel,
}

/// <summary>Settings of one check run.</summary>
internal sealed record CheckOptions
{
    /// <summary>Default bound on how long a map or unmap waits for the dma event naming its device (trace time).
    /// An NVMe scatter-gather map was seen taking ~20 ms between its first iommu:map and its dma_map_sg.</summary>
    public const long DefaultAttributionWindowNs = 100_000_000;

    /// <summary>Default bound on the number of events held back while attribution waits (memory bound).</summary>
    public const int DefaultMaxPendingEvents = 1 << 20;

    /// <summary>x86 VT-d / AMD-Vi second-level and SMMUv3 4K-granule tables: 4K | 2M | 1G.</summary>
    public const ulong DefaultPgsizeBitmap = (1UL << 12) | (1UL << 21) | (1UL << 30);

    public CheckMode Mode { get; init; } = CheckMode.Precise;

    /// <summary>log2 of the traced machine's CPU page size (pfn = paddr &gt;&gt; shift).</summary>
    public int CpuPageShift { get; init; } = 12;

    /// <summary>The IOMMU domains' pgsize_bitmap (a trace does not record it).</summary>
    public ulong PgsizeBitmap { get; init; } = DefaultPgsizeBitmap;

    public long AttributionWindowNs { get; init; } = DefaultAttributionWindowNs;

    public int MaxPendingEvents { get; init; } = DefaultMaxPendingEvents;

    /// <summary>Later page events kept per finding; more are only counted.</summary>
    public int MaxLaterEvents { get; init; } = 256;

    /// <summary>The IOMMU granule: the smallest page size in <see cref="PgsizeBitmap"/>.</summary>
    public ulong Granule => 1UL << System.Numerics.BitOperations.TrailingZeroCount(PgsizeBitmap);
}
