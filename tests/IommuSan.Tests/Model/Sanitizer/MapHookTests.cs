using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>iommu_debug_map: counts after a successful map; WARNs on phys 0, overflow and counter overflow.</summary>
public sealed class MapHookTests
{
    private readonly ModelMachine _machine = new(PageSize.Shift4K, 16UL << 20, SanitizerMode.KernelExact);

    [Fact]
    public void Each_page_of_a_mapping_is_counted_once_per_mapping()
    {
        var domain = _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var paddr = ModelMachine.RamBase + 0x10000;

        _machine.Core.Map(domain, 0x1000, paddr, 0x3000);
        _machine.Core.Map(domain, 0x9000, paddr + 0x1000, 0x1000); // a second mapping of the middle page

        Assert.Equal([1, 2, 1, 0], Counts(_machine.Pfn(paddr), 4));
        Assert.Equal(0, _machine.Findings.Count);
    }

    [Fact]
    public void Failed_map_counts_nothing()
    {
        var domain = _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);

        Assert.Equal(IommuStatus.InvalidArgument, _machine.Core.Map(domain, 0x1000, ModelMachine.RamBase + 0x800, 0x1000));
        Assert.Equal(0, _machine.Sanitizer.GetCount(_machine.Pfn(ModelMachine.RamBase)));
    }

    [Fact]
    public void Mmio_without_struct_page_is_skipped_silently()
    {
        var domain = _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);

        Assert.Equal(IommuStatus.Ok, _machine.Core.Map(domain, 0x1000, ModelMachine.MmioBase, 0x2000));
        _machine.Core.Unmap(domain, 0x1000, 0x2000);

        Assert.Equal(0, _machine.Sanitizer.GetCount(_machine.Pfn(ModelMachine.MmioBase)));
        Assert.Equal(0, _machine.Findings.Count);
    }

    [Fact]
    public void Physical_address_0_is_an_invalid_map_and_not_counted()
    {
        var domain = _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);

        _machine.Sanitizer.Map(domain, 0, 0x1000);

        var finding = Assert.Single(_machine.Findings.Snapshot());
        Assert.Equal(FindingKind.InvalidMap, finding.Kind);
        Assert.Equal(0UL, finding.Mapping!.Value.Paddr);
    }

    [Fact]
    public void Paddr_plus_size_overflow_is_an_invalid_map_and_not_counted()
    {
        var domain = _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);

        _machine.Sanitizer.Map(domain, 0xffff_ffff_ffff_f000, 0x1000, iova: 0x5000);

        var finding = Assert.Single(_machine.Findings.Snapshot());
        Assert.Equal(FindingKind.InvalidMap, finding.Kind);
        Assert.Equal(0x5000UL, finding.Mapping!.Value.Iova);
    }

    [Fact]
    public void Counter_overflow_is_reported_with_the_page_and_its_count()
    {
        var domain = _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var pfn = _machine.Pfn(ModelMachine.RamBase);
        var section = _machine.PageExt.SectionForUpdate(pfn)!;
        section.Counts[_machine.PageExt.IndexInSection(pfn)] = int.MaxValue;

        _machine.Core.Map(domain, 0x1000, ModelMachine.RamBase, 0x1000);

        var finding = Assert.Single(_machine.Findings.Snapshot());
        Assert.Equal(FindingKind.CounterOverflow, finding.Kind);
        Assert.Equal(pfn, finding.Pfn);
        Assert.Equal(int.MinValue, finding.Count);
        Assert.Equal(0x1000UL, finding.Mapping!.Value.Iova);
    }

    private int[] Counts(ulong pfn, int n) => Enumerable.Range(0, n).Select(i => _machine.Sanitizer.GetCount(pfn + (ulong)i)).ToArray();
}
