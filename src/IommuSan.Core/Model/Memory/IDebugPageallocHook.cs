namespace IommuSan.Model.Memory;

/// <summary>
/// The page allocator's debug_pagealloc hook: called with every block handed out (after
/// allocation, as post_alloc_hook does) and every block given back (at the end of
/// free_pages_prepare). The IOMMU sanitizer checks there that no page is still IOMMU-mapped.
/// </summary>
internal interface IDebugPageallocHook
{
    /// <returns>How many pages were still mapped (each one reported as a finding).</returns>
    int CheckUnmapped(ulong pfn, int numPages);
}
