using BenchmarkDotNet.Attributes;
using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Bench.Model;

/// <summary>How the IOMMU core is hooked in a benchmark.</summary>
public enum Hooks
{
    /// <summary>No sanitizer at all (a kernel built without IOMMU_DEBUG_PAGEALLOC).</summary>
    NoHooks,

    /// <summary>Sanitizer present but not enabled on the command line (the static key off).</summary>
    Off,

    /// <summary>Enabled, kernel-exact semantics.</summary>
    KernelExact,

    /// <summary>Enabled, precise mode.</summary>
    Precise,
}

/// <summary>
/// iommu_map + iommu_unmap of one buffer through the IOMMU core, as the kernel's dma_map_benchmark
/// does (4 KiB and 1 MiB; 1 MiB is 256 4K pages on a 4K|2M|1G domain), with the sanitizer absent,
/// off, on (kernel-exact) and on (precise).
/// </summary>
[MemoryDiagnoser]
public class MapUnmapBenchmarks
{
    private const ulong Iova = 0x1_0000_0000;

    private IommuCore _core = null!;
    private IommuDomain _domain = null!;
    private ulong _paddr;

    [Params(4096, 1 << 20)]
    public int Size { get; set; }

    [Params(Hooks.NoHooks, Hooks.Off, Hooks.KernelExact, Hooks.Precise)]
    public Hooks Hooks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var machine = new ModelMachine(PageSize.Shift4K, 64UL << 20,
            Hooks == Hooks.Precise ? SanitizerMode.Precise : SanitizerMode.KernelExact,
            Hooks is Hooks.Off or Hooks.NoHooks ? "console=ttyS0" : ModelMachine.EnabledCommandLine);
        _core = Hooks == Hooks.NoHooks ? new IommuCore(null) : machine.Core;
        _domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);

        // A buffer that is 4K- but not 2M-aligned in paddr, as dma_map_benchmark's pages are.
        _paddr = machine.Paddr(machine.Allocator.AllocPages(9, Gfp.Kernel, "bench")) + 0x1000;

        // Warm the page table so steady state reuses its table pages.
        _core.Map(_domain, Iova, _paddr, (ulong)Size);
        _core.Unmap(_domain, Iova, (ulong)Size);
    }

    [Benchmark]
    public ulong MapUnmap()
    {
        _core.Map(_domain, Iova, _paddr, (ulong)Size);
        return _core.Unmap(_domain, Iova, (ulong)Size);
    }
}
