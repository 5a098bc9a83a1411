using System.CommandLine;
using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Cli.Commands;

/// <summary>
/// <c>iommusan demo</c>: runs real scenarios through the model (page allocator, IOMMU core with a
/// VT-d style domain, the sanitizer) and prints each finding as the kernel's WARN would read.
/// Exit 1 when a page leak was found (the exit-code contract: 1 = findings).
/// </summary>
internal static class DemoCommand
{
    private const string Device = "0000:00:01.0";
    private const ulong LeakIova = 0xffef_0000;
    private const ulong CleanIova = 0xffee_f000;
    private const ulong BlockIova = 0x20_0000;

    public static Command Create()
    {
        var mode = new Option<string>("--mode")
        {
            Description = "Sanitizer semantics: 'kernel' (exactly what Linux 7.x reports, false reports included) or 'precise'.",
            DefaultValueFactory = _ => "kernel",
        };
        mode.AcceptOnlyFromAmong("kernel", "precise");

        var command = new Command("demo", "Run the model's demo scenarios: a page freed while still IOMMU-mapped, the clean variant, and a VT-d partial unmap of a 2 MiB page.");
        command.Options.Add(mode);
        command.SetAction(parseResult =>
        {
            var sanitizerMode = parseResult.GetValue(mode) == "precise" ? SanitizerMode.Precise : SanitizerMode.KernelExact;
            return Run(sanitizerMode, parseResult.InvocationConfiguration.Output);
        });
        return command;
    }

    internal static int Run(SanitizerMode mode, TextWriter output)
    {
        output.WriteLine($"iommusan demo: 4K CPU pages, 64 MiB RAM at 0x{ModelMachine.RamBase:x}, domain {Device} " +
            $"(pgsize_bitmap 0x{IommuDomain.VtdPgsizeBitmap:x}, VT-d unmap behaviour), mode {ModeName(mode)}");
        output.WriteLine($"kernel command line: {ModelMachine.EnabledCommandLine}");
        output.WriteLine(IommuDebugPagealloc.BootMessage);
        output.WriteLine();

        // Each scenario boots a fresh machine, so one scenario's leak cannot show up in the next.
        var leaks = 0;

        output.WriteLine("[page_uaf] alloc_page, iommu_map, __free_page without iommu_unmap, then the page is reused");
        var (machine, domain) = Boot(mode);
        machine.Allocator.NowNs = 15_276_200_000;
        var pfn = machine.Allocator.AllocPages(0, Gfp.Kernel, "demo_driver_probe");
        machine.Allocator.NowNs += 1_000_000;
        machine.Core.Map(domain, LeakIova, machine.Paddr(pfn), 0x1000);
        machine.Allocator.NowNs += 84_000_000;
        machine.Allocator.FreePages(pfn, 0);
        machine.Allocator.NowNs += 40_000;
        machine.Allocator.AllocPages(0, Gfp.Kernel, "pte_alloc_one"); // the leaked page comes straight back
        leaks += PrintFindings(machine, output, maxShown: 2);

        output.WriteLine("[clean] alloc_page, iommu_map, iommu_unmap, __free_page");
        (machine, domain) = Boot(mode);
        machine.Allocator.NowNs = 16_450_999_000;
        var clean = machine.Allocator.AllocPages(0, Gfp.Kernel, "demo_driver_xmit");
        machine.Core.Map(domain, CleanIova, machine.Paddr(clean), 0x1000);
        machine.Core.Unmap(domain, CleanIova, 0x1000);
        machine.Allocator.FreePages(clean, 0);
        leaks += PrintFindings(machine, output, maxShown: 2);

        output.WriteLine("[vtd_2m] 2 MiB mapped as one superpage, iommu_unmap of its first 4 KiB, the rest, then free");
        (machine, domain) = Boot(mode);
        machine.Allocator.NowNs = 17_000_000_000;
        var block = machine.Allocator.AllocPages(9, Gfp.Kernel, "demo_dma_alloc_pages");
        machine.Core.Map(domain, BlockIova, machine.Paddr(block), PageSizes.Size2M);
        var unmapped = machine.Core.Unmap(domain, BlockIova, 0x1000);
        var rest = machine.Core.Unmap(domain, BlockIova + 0x1000, PageSizes.Size2M - 0x1000);
        output.WriteLine($"  iommu_unmap(iova=0x{BlockIova:x}, size=0x1000) returned 0x{unmapped:x}; the rest returned 0x{rest:x}");
        machine.Allocator.FreePages(block, 9);
        leaks += PrintFindings(machine, output, maxShown: 2);
        if (mode == SanitizerMode.KernelExact)
        {
            output.WriteLine("  (the kernel's own false reports: no device can reach those pages; --mode precise accounts for the whole unmap)");
            output.WriteLine();
        }

        output.WriteLine(leaks == 0 ? "No page leaks." : $"{leaks} page leak finding(s).");
        return leaks == 0 ? ExitCodes.Ok : ExitCodes.Findings;
    }

    private static (ModelMachine Machine, IommuDomain Domain) Boot(SanitizerMode mode)
    {
        var machine = new ModelMachine(PageSize.Shift4K, 64UL << 20, mode);
        return (machine, machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock, Device));
    }

    private static int PrintFindings(ModelMachine machine, TextWriter output, int maxShown)
    {
        var findings = machine.Findings.Snapshot();
        machine.Findings.Clear();
        if (findings.Count == 0)
        {
            output.WriteLine("  no findings");
            output.WriteLine();
            return 0;
        }

        var shown = 0;
        var leaks = 0;
        foreach (var finding in findings)
        {
            if (finding.Kind == FindingKind.PageLeak)
            {
                leaks++;
            }

            if (shown++ < maxShown)
            {
                WriteWarn(output, finding, machine.PageShift);
            }
        }

        if (findings.Count > maxShown)
        {
            output.WriteLine($"  ... and {findings.Count - maxShown} more finding(s) like it");
        }

        output.WriteLine();
        return leaks;
    }

    /// <summary>A compact rendering of the kernel's WARN for a finding (the kernel does not print the pfn; we do).</summary>
    private static void WriteWarn(TextWriter output, in SanitizerFinding finding, int pageShift)
    {
        output.WriteLine("------------[ cut here ]------------");
        switch (finding.Kind)
        {
            case FindingKind.PageLeak:
                output.WriteLine("WARNING: drivers/iommu/iommu-debug-pagealloc.c at __iommu_debug_check_unmapped");
                output.WriteLine("iommu: Detected page leak!");
                output.WriteLine($"  pfn 0x{finding.Pfn:x} (paddr 0x{finding.Pfn << pageShift:x}) IOMMU map count {finding.Count}");
                break;
            case FindingKind.UnmappedMoreThanRequested:
                output.WriteLine("WARNING: drivers/iommu/iommu-debug-pagealloc.c at __iommu_debug_unmap_end (unmapped > size)");
                output.WriteLine($"  asked 0x{finding.Mapping?.Size ?? 0:x}, the page table unmapped 0x{finding.Unmapped:x}");
                break;
            default:
                output.WriteLine($"WARNING: drivers/iommu/iommu-debug-pagealloc.c: {finding.Kind}");
                output.WriteLine($"  pfn 0x{finding.Pfn:x} IOMMU map count {finding.Count}");
                break;
        }

        if (finding.Owner is { } owner)
        {
            var free = owner.FreeTimeNs is { } t ? $"{t} ns" : "none";
            output.WriteLine($"  page last allocated via order {owner.Order}, gfp_mask 0x{owner.GfpFlags:x}, by {owner.Who}, ts {owner.AllocTimeNs} ns, free_ts {free}");
        }

        if (finding.Mapping is { } m)
        {
            var iova = m.Iova is { } v ? $"iova 0x{v:x}" : "iova unknown";
            output.WriteLine(finding.Kind switch
            {
                FindingKind.PageLeak => $"  still mapped in domain {m.DomainName}: {iova} -> paddr 0x{m.Paddr:x} size 0x{m.Size:x}",
                FindingKind.UnmappedMoreThanRequested => $"  domain {m.DomainName}: {iova}",
                _ => $"  domain {m.DomainName}: {iova} paddr 0x{m.Paddr:x} size 0x{m.Size:x}",
            });
        }
        else if (finding.Kind == FindingKind.PageLeak)
        {
            output.WriteLine("  no live IOMMU mapping covers this page (a stale count)");
        }

        output.WriteLine("---[ end trace ]---");
    }

    private static string ModeName(SanitizerMode mode) => mode == SanitizerMode.Precise ? "precise" : "kernel-exact";
}
