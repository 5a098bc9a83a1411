using IommuSan.Model.Iommu;

namespace IommuSan.Tests.Model.Iommu;

/// <summary>The granule fixes the table geometry; pgsize_bitmap must name leaf sizes of that geometry.</summary>
public sealed class IoPageTableGeometryTests
{
    [Theory]
    [InlineData(IommuDomain.VtdPgsizeBitmap, 48, 4)]
    [InlineData(IommuDomain.VtdPgsizeBitmap, 39, 3)]
    [InlineData(IommuDomain.ArmLpae16KPgsizeBitmap, 48, 4)]
    [InlineData(IommuDomain.ArmLpae64KPgsizeBitmap, 48, 3)]
    public void Levels_follow_granule_and_iova_bits(ulong pgsizeBitmap, int iovaBits, int levels)
    {
        var table = new IoPageTable(pgsizeBitmap, UnmapBehaviour.RefusePartialBlock, iovaBits);

        Assert.Equal(levels, table.Levels);
        Assert.Equal(PageSizes.Granule(pgsizeBitmap), table.Granule);
    }

    [Theory]
    [InlineData(0x2000UL)] // 8K granule does not exist
    [InlineData(PageSizes.Size4K | (1UL << 20))] // 1M is not a leaf size of a 4K table
    [InlineData(PageSizes.Size64K | PageSizes.Size2M)] // 2M is not a leaf size of a 64K table
    [InlineData(0UL)]
    public void Page_sizes_the_format_cannot_hold_are_rejected(ulong pgsizeBitmap)
    {
        Assert.Throws<ArgumentException>(() => new IoPageTable(pgsizeBitmap, UnmapBehaviour.RefusePartialBlock));
    }

    [Fact]
    public void Walk_reports_leaf_and_the_extent_of_holes()
    {
        var table = new IoPageTable(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        Assert.Equal(IommuStatus.Ok, table.Map(0x4020_0000, 0x8020_0000, PageSizes.Size2M, out _));

        Assert.Equal(new IoWalk(true, 0x4020_0000, 0x8020_0000, PageSizes.Size2M), table.Walk(0x4020_1234));
        Assert.Equal(0x8020_1234UL, table.IovaToPhys(0x4020_1234));

        // Next to it, in the same 1G table: an empty 2M entry; elsewhere a whole empty 1G entry.
        Assert.Equal(new IoWalk(false, 0x4040_0000, 0, PageSizes.Size2M), table.Walk(0x4040_0000));
        Assert.Equal(new IoWalk(false, 0x8000_0000, 0, PageSizes.Size1G), table.Walk(0x8000_0000));
        Assert.Equal(0UL, table.IovaToPhys(0x4040_0000));
    }

    [Fact]
    public void Walk_run_spans_leaves_contiguous_in_iova_and_paddr_up_to_the_limit()
    {
        var table = new IoPageTable(PageSizes.Size4K, UnmapBehaviour.RefusePartialBlock);
        table.Map(0x10000, 0x8000_0000, 0x4000, out _);
        table.Map(0x14000, 0x9000_0000, 0x1000, out _); // contiguous iova, not paddr

        Assert.Equal(new IoWalk(true, 0x10000, 0x8000_0000, 0x4000), table.WalkRun(0x10000, 0x20000));
        Assert.Equal(new IoWalk(true, 0x11000, 0x8000_1000, 0x2000), table.WalkRun(0x11000, 0x13000));
        Assert.Equal(new IoWalk(true, 0x14000, 0x9000_0000, 0x1000), table.WalkRun(0x14000, 0x20000));
        Assert.Equal(new IoWalk(false, 0x15000, 0, 0x3000), table.WalkRun(0x15000, 0x18000));
    }

    [Fact]
    public void Four_k_mappings_are_accepted_at_any_four_k_aligned_paddr()
    {
        var table = new IoPageTable(PageSizes.Size4K, UnmapBehaviour.RefusePartialBlock);

        Assert.Equal(IommuStatus.Ok, table.Map(0xffef_0000, 0xf34a_000, 0x3000, out var mapped));
        Assert.Equal(0x3000UL, mapped);
        Assert.Equal(0xf34c_123UL, table.IovaToPhys(0xffef_2123));
        Assert.Equal(IommuStatus.InvalidArgument, table.Map(0x1000, 0x1800, 0x1000, out _));
    }

    [Fact]
    public void Table_pages_are_recycled_after_a_subtree_is_unmapped()
    {
        var table = new IoPageTable(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var baseline = table.TablePages;

        // 4K pages under one 2M entry need a last-level table; unmapping the 2M range frees it.
        for (var round = 0; round < 3; round++)
        {
            Assert.Equal(IommuStatus.Ok, table.MapPages(0x20_0000, 0x9000_0000, PageSizes.Size4K, 512, out _));
            Assert.Equal(PageSizes.Size2M, table.UnmapPages(0x20_0000, PageSizes.Size2M, 1));
        }

        Assert.Equal(baseline + 2, table.TablePages); // the two upper tables stay, as in io-pgtable
        Assert.Empty(table.Leaves());
    }
}
