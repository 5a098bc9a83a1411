using BenchmarkDotNet.Attributes;
using IommuSan.Model;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Bench.Model;

/// <summary>
/// The page allocator's alloc + free of a block with the sanitizer's check (iommu_debug_check_unmapped)
/// absent, off and on, for an order-0 page and an order-9 (2 MiB) block.
/// </summary>
[MemoryDiagnoser]
public class CheckOnFreeBenchmarks
{
    private PageAllocator _allocator = null!;

    [Params(0, 9)]
    public int Order { get; set; }

    [Params(Hooks.NoHooks, Hooks.Off, Hooks.KernelExact)]
    public Hooks Hooks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var machine = new ModelMachine(PageSize.Shift4K, 64UL << 20, SanitizerMode.KernelExact,
            Hooks == Hooks.KernelExact ? ModelMachine.EnabledCommandLine : "console=ttyS0");
        _allocator = Hooks == Hooks.NoHooks ? new PageAllocator(machine.Memory, machine.Owner, null) : machine.Allocator;
    }

    [Benchmark]
    public ulong AllocFree()
    {
        var pfn = _allocator.AllocPages(Order, Gfp.Kernel, "bench");
        _allocator.FreePages(pfn, Order);
        return pfn;
    }
}

/// <summary>The check alone over a block of never-mapped pages (the common case on every free).</summary>
[MemoryDiagnoser]
public class CheckUnmappedBenchmarks
{
    private IommuDebugPagealloc _sanitizer = null!;
    private ulong _pfn;

    [Params(1, 512)]
    public int Pages { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var machine = new ModelMachine(PageSize.Shift4K, 64UL << 20, SanitizerMode.KernelExact);
        _sanitizer = machine.Sanitizer;
        _pfn = machine.Allocator.AllocPages(9, Gfp.Kernel, "bench");
    }

    [Benchmark]
    public int CheckUnmapped() => _sanitizer.CheckUnmapped(_pfn, Pages);
}
