using BenchmarkDotNet.Attributes;
using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Bench.Model;

/// <summary>
/// The hooks as a trace replay drives them (no IOMMU core): one iommu:map and one iommu:unmap
/// event of 4 KiB against a 4K mirror page table in an unknown memory map. Two events per call.
/// </summary>
[MemoryDiagnoser]
public class ReplayHookBenchmarks
{
    private IommuDebugPagealloc _sanitizer = null!;
    private IommuDomain _domain = null!;
    private ulong _i;

    [Params(Hooks.KernelExact, Hooks.Precise)]
    public Hooks Hooks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _sanitizer = new IommuDebugPagealloc(PageExt.ForUnknownMemoryMap(PageSize.Shift4K),
            Hooks == Hooks.Precise ? SanitizerMode.Precise : SanitizerMode.KernelExact, new FindingList());
        _domain = new IommuDomain(1, PageSizes.Size4K, UnmapBehaviour.RefusePartialBlock);
    }

    [Benchmark(OperationsPerInvoke = 2)]
    public ulong MapAndUnmapEvent()
    {
        // Walk through 64 different pages and IOVAs so the page table and counters are not one hot line.
        var n = _i++ & 63;
        var iova = 0xffef_0000 - (n << 12);
        var paddr = 0x1_0000_0000 + (n << 12);
        _domain.PageTable.Map(iova, paddr, 0x1000, out _);
        _sanitizer.Map(_domain, paddr, 0x1000, iova);
        _sanitizer.UnmapBegin(_domain, iova, 0x1000, 0x1000);
        var unmapped = _domain.PageTable.Unmap(iova, 0x1000);
        _sanitizer.UnmapEnd(_domain, iova, 0x1000, unmapped);
        return unmapped;
    }
}
