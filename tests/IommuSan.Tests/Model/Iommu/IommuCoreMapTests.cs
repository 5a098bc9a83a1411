using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Iommu;

/// <summary>iommu_map: alignment, page size choice, and failure half way.</summary>
public sealed class IommuCoreMapTests
{
    private static (IommuCore Core, IommuDomain Domain) NewCore(UnmapBehaviour behaviour = UnmapBehaviour.UnmapWholeBlock)
    {
        var machine = new ModelMachine(PageSize.Shift4K, 64UL << 20, SanitizerMode.KernelExact);
        return (machine.Core, machine.NewDomain(IommuDomain.VtdPgsizeBitmap, behaviour));
    }

    [Theory]
    [InlineData(0x1800UL, 0x8000_0000UL, 0x1000UL)]
    [InlineData(0x1000UL, 0x8000_0800UL, 0x1000UL)]
    [InlineData(0x1000UL, 0x8000_0000UL, 0x800UL)]
    public void Misaligned_to_the_smallest_page_size_is_EINVAL_and_maps_nothing(ulong iova, ulong paddr, ulong size)
    {
        var (core, domain) = NewCore();

        Assert.Equal(IommuStatus.InvalidArgument, core.Map(domain, iova, paddr, size));
        Assert.Empty(domain.PageTable.Leaves());
    }

    [Fact]
    public void Largest_page_size_that_fits_alignment_and_length_is_used_at_each_step()
    {
        var (core, domain) = NewCore();

        // 4K up to the first 2M boundary, then 2M blocks, then 4K for the tail.
        Assert.Equal(IommuStatus.Ok, core.Map(domain, 0x1f_f000, 0x801f_f000, 0x40_2000));

        var sizes = domain.PageTable.Leaves().Select(l => l.Size).ToArray();
        Assert.Equal([PageSizes.Size4K, PageSizes.Size2M, PageSizes.Size2M, PageSizes.Size4K], sizes);
        Assert.Equal(0x801f_f000UL + 0x30_0010, domain.IovaToPhys(0x1f_f000 + 0x30_0010));
    }

    [Fact]
    public void Iova_and_paddr_with_different_2M_offsets_only_get_4K_pages()
    {
        var (core, domain) = NewCore();

        Assert.Equal(IommuStatus.Ok, core.Map(domain, 0x20_0000, 0x80_1000, 0x40_0000));

        Assert.All(domain.PageTable.Leaves(), l => Assert.Equal(PageSizes.Size4K, l.Size));
        Assert.Equal(1024, domain.PageTable.Leaves().Count());
    }

    [Fact]
    public void Map_failing_half_way_undoes_what_it_mapped()
    {
        var (core, domain) = NewCore();
        Assert.Equal(IommuStatus.Ok, core.Map(domain, 0x5000, 0x9000_5000, 0x1000));

        Assert.Equal(IommuStatus.AlreadyMapped, core.Map(domain, 0x1000, 0x8000_1000, 0x8000));

        var leaf = Assert.Single(domain.PageTable.Leaves());
        Assert.Equal(new IoLeaf(0x5000, 0x9000_5000, 0x1000), leaf);
    }

    [Fact]
    public void Map_running_out_of_table_pages_is_ENOMEM_half_way()
    {
        var (core, domain) = NewCore();
        domain.PageTable.TablePageLimit = domain.PageTable.TablePages + 3; // enough up to the 4K tail

        Assert.Equal(IommuStatus.NoMemory, core.Map(domain, 0x1f_f000, 0x801f_f000, 0x40_2000));
        Assert.Empty(domain.PageTable.Leaves());
    }
}
