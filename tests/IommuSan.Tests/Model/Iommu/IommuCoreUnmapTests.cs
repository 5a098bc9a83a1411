using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Iommu;

/// <summary>__iommu_unmap: holes, and the two ways page tables treat part of a block.</summary>
public sealed class IommuCoreUnmapTests
{
    private static (IommuCore Core, IommuDomain Domain) NewCore(UnmapBehaviour behaviour)
    {
        var machine = new ModelMachine(PageSize.Shift4K, 64UL << 20, SanitizerMode.KernelExact);
        return (machine.Core, machine.NewDomain(IommuDomain.VtdPgsizeBitmap, behaviour));
    }

    [Fact]
    public void Unmap_stops_at_the_first_hole_and_returns_the_bytes_unmapped()
    {
        var (core, domain) = NewCore(UnmapBehaviour.RefusePartialBlock);
        core.Map(domain, 0x10000, 0x8001_0000, 0x3000);
        core.Map(domain, 0x14000, 0x8001_4000, 0x1000);

        Assert.Equal(0x3000UL, core.Unmap(domain, 0x10000, 0x5000));
        Assert.Equal(0x8001_4000UL, domain.IovaToPhys(0x14000));
    }

    [Fact]
    public void Arm_style_table_refuses_part_of_a_block_and_returns_0()
    {
        var (core, domain) = NewCore(UnmapBehaviour.RefusePartialBlock);
        core.Map(domain, 0x20_0000, 0x8020_0000, PageSizes.Size2M);

        Assert.Equal(0UL, core.Unmap(domain, 0x20_0000, 0x1000));
        Assert.Equal(0x8020_0000UL, domain.IovaToPhys(0x20_0000));
    }

    [Fact]
    public void Vtd_style_table_unmaps_the_whole_block_and_returns_more_than_asked()
    {
        var (core, domain) = NewCore(UnmapBehaviour.UnmapWholeBlock);
        core.Map(domain, 0x20_0000, 0x8020_0000, PageSizes.Size2M);

        Assert.Equal(PageSizes.Size2M, core.Unmap(domain, 0x20_1000, 0x1000));
        Assert.Equal(0UL, domain.IovaToPhys(0x20_0000));
        Assert.Equal(0UL, core.Unmap(domain, 0x20_2000, 0x1F_E000)); // the follow-up finds nothing
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Unmapping_with_a_larger_page_than_mapped_removes_the_whole_subtree(bool vtd)
    {
        var (core, domain) = NewCore(vtd ? UnmapBehaviour.UnmapWholeBlock : UnmapBehaviour.RefusePartialBlock);
        domain.PageTable.MapPages(0x20_0000, 0x8030_0000, PageSizes.Size4K, 512, out _);

        Assert.Equal(PageSizes.Size2M, core.Unmap(domain, 0x20_0000, PageSizes.Size2M));
        Assert.Empty(domain.PageTable.Leaves());
    }

    [Fact]
    public void Misaligned_unmap_unmaps_nothing()
    {
        var (core, domain) = NewCore(UnmapBehaviour.RefusePartialBlock);
        core.Map(domain, 0x10000, 0x8001_0000, 0x1000);

        Assert.Equal(0UL, core.Unmap(domain, 0x10800, 0x1000));
        Assert.Equal(0x8001_0000UL, domain.IovaToPhys(0x10000));
    }
}
