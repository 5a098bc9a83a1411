using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>
/// CVE-2026-64152: on Linux 7.0.0-7.0.10 a map failing half way unmapped the part it had mapped
/// through iommu_unmap, whose unmap_begin decremented counters map never incremented.
/// </summary>
public sealed class MapErrorPathTests
{
    private sealed class TraceLog : IIommuTraceListener
    {
        public List<string> Events { get; } = [];

        public void OnMap(IommuDomain domain, ulong iova, ulong paddr, ulong size) => Events.Add($"map iova=0x{iova:x} size=0x{size:x}");

        public void OnUnmap(IommuDomain domain, ulong iova, ulong size, ulong unmappedSize) =>
            Events.Add($"unmap iova=0x{iova:x} size=0x{size:x} unmapped=0x{unmappedSize:x}");
    }

    private static (ModelMachine Machine, IommuDomain Domain, ulong Pfn, TraceLog Trace) FailHalfWay(MapErrorPath path)
    {
        var trace = new TraceLog();
        var machine = new ModelMachine(PageSize.Shift4K, 16UL << 20, SanitizerMode.KernelExact, errorPath: path, trace: trace);
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var pfn = machine.Allocator.AllocPages(2, Gfp.Kernel, "sg_buffer");
        var blocker = machine.Allocator.AllocPages(0, Gfp.Kernel, "other");
        machine.Core.Map(domain, 0x13000, machine.Paddr(blocker), 0x1000); // occupies the 4th iova page
        trace.Events.Clear();

        // Four pages at 0x10000: three map, the fourth hits the existing mapping (-EEXIST).
        Assert.Equal(IommuStatus.AlreadyMapped, machine.Core.Map(domain, 0x10000, machine.Paddr(pfn), 0x4000));
        return (machine, domain, pfn, trace);
    }

    [Fact]
    public void Vulnerable_error_path_drives_counters_of_the_mapped_part_below_zero()
    {
        var (machine, _, pfn, trace) = FailHalfWay(MapErrorPath.Cve2026_64152);

        Assert.Equal([-1, -1, -1, 0], Enumerable.Range(0, 4).Select(i => machine.Sanitizer.GetCount(pfn + (ulong)i)));
        Assert.Equal(3, machine.Findings.CountOf(FindingKind.UnbalancedUnmap));
        Assert.Equal(["unmap iova=0x10000 size=0x3000 unmapped=0x3000"], trace.Events); // an unmap with no map
    }

    [Fact]
    public void Fixed_error_path_counts_then_unmaps_and_stays_balanced()
    {
        var (machine, _, pfn, trace) = FailHalfWay(MapErrorPath.Fixed);

        Assert.Equal([0, 0, 0, 0], Enumerable.Range(0, 4).Select(i => machine.Sanitizer.GetCount(pfn + (ulong)i)));
        Assert.Equal(0, machine.Findings.Count);
        Assert.Equal(["map iova=0x10000 size=0x3000", "unmap iova=0x10000 size=0x3000 unmapped=0x3000"], trace.Events);
    }

    [Fact]
    public void After_the_vulnerable_error_path_a_real_leak_goes_unseen_and_unmapped_pages_are_reported()
    {
        var (machine, domain, pfn, _) = FailHalfWay(MapErrorPath.Cve2026_64152);
        machine.Findings.Clear();

        // The page is mapped for real now, and freed while mapped: the -1 hides it.
        machine.Core.Map(domain, 0x40000, machine.Paddr(pfn), 0x1000);
        Assert.Equal(0, machine.Sanitizer.GetCount(pfn));
        machine.Allocator.FreePages(pfn, 2);

        // The mapped page is missed; the two unmapped pages still at -1 are reported instead.
        var leaks = machine.Findings.Snapshot().Where(f => f.Kind == FindingKind.PageLeak).ToArray();
        Assert.Equal([(pfn + 1, -1), (pfn + 2, -1)], leaks.Select(f => (f.Pfn, f.Count)));
        Assert.Equal(1, machine.Findings.CountOf(FindingKind.CounterOverflow)); // the kernel's WARN on inc to 0
    }

    [Fact]
    public void After_the_fixed_error_path_the_same_leak_is_found()
    {
        var (machine, domain, pfn, _) = FailHalfWay(MapErrorPath.Fixed);

        machine.Core.Map(domain, 0x40000, machine.Paddr(pfn), 0x1000);
        machine.Allocator.FreePages(pfn, 2);

        var leak = Assert.Single(machine.Findings.Snapshot());
        Assert.Equal((FindingKind.PageLeak, pfn), (leak.Kind, leak.Pfn));
    }
}
