using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>
/// The hooks count a run of pages a section slice at a time, two neighbouring pages per atomic
/// update: every page must still be counted exactly once and warned about on its own, whatever the
/// run's alignment, holes without struct page inside it, or section boundaries it crosses.
/// </summary>
public sealed class PageRunCountingTests
{
    private const ulong Iova = 0x4000_0000;

    [Theory]
    [InlineData(0x100, 16)]
    [InlineData(0x101, 16)]
    [InlineData(0x101, 15)]
    [InlineData(0x100, 1)]
    [InlineData(0x101, 1)]
    [InlineData(0x7FFF, 3)]
    public void Each_page_of_a_run_is_counted_once_whatever_its_alignment(ulong firstPfn, int pages)
    {
        var (sanitizer, domain, _) = Boot();
        var paddr = firstPfn << 12;
        var size = (ulong)pages << 12;
        Assert.Equal(IommuStatus.Ok, domain.PageTable.Map(Iova, paddr, size, out _));

        sanitizer.Map(domain, paddr, size, Iova);

        Assert.Equal(0, sanitizer.GetCount(firstPfn - 1));
        for (var i = 0; i < pages; i++)
        {
            Assert.Equal(1, sanitizer.GetCount(firstPfn + (ulong)i));
        }

        Assert.Equal(0, sanitizer.GetCount(firstPfn + (ulong)pages));

        sanitizer.UnmapBegin(domain, Iova, size);
        sanitizer.UnmapEnd(domain, Iova, size, size);
        for (var i = -1; i <= pages; i++)
        {
            Assert.Equal(0, sanitizer.GetCount((ulong)((long)firstPfn + i)));
        }
    }

    [Fact]
    public void Pages_marked_without_struct_page_inside_a_run_are_skipped_and_the_rest_counted()
    {
        var (sanitizer, domain, ext) = Boot();
        ext.MarkNoStructPage(0x103, 3);
        ext.MarkNoStructPage(0x10A, 1);

        sanitizer.Map(domain, 0x101UL << 12, 12UL << 12, Iova);

        int[] expected = [1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1];
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], sanitizer.GetCount(0x101 + (ulong)i));
        }
    }

    [Fact]
    public void Unbalanced_unmap_of_a_run_reports_each_page_with_its_own_count()
    {
        var findings = new FindingList();
        var (sanitizer, domain, ext) = Boot(findings);
        Assert.Equal(IommuStatus.Ok, domain.PageTable.Map(Iova, 0x101UL << 12, 4UL << 12, out _));
        sanitizer.Map(domain, 0x102UL << 12, 1UL << 12, Iova + 0x1000);

        // Pages 0x101, 0x103 and 0x104 were never counted: the unmap takes them below zero.
        sanitizer.UnmapBegin(domain, Iova, 4UL << 12);

        var reported = findings.Snapshot();
        Assert.All(reported, f => Assert.Equal(FindingKind.UnbalancedUnmap, f.Kind));
        Assert.Equal([0x101UL, 0x103UL, 0x104UL], reported.Select(f => f.Pfn).Order());
        Assert.All(reported, f => Assert.Equal(-1, f.Count));
        Assert.Equal(Iova + 0x2000, reported.Single(f => f.Pfn == 0x103).Mapping!.Value.Iova);
        Assert.Equal(0, ext.GetCount(0x102));
    }

    private static (IommuDebugPagealloc Sanitizer, IommuDomain Domain, PageExt Ext) Boot(FindingList? findings = null)
    {
        var ext = PageExt.ForUnknownMemoryMap(12);
        var sanitizer = new IommuDebugPagealloc(ext, SanitizerMode.KernelExact, findings ?? new FindingList());
        var domain = new IommuDomain(1, IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.RefusePartialBlock);
        return (sanitizer, domain, ext);
    }
}
