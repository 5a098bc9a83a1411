using System.CommandLine;
using IommuSan.Cli.Commands;

namespace IommuSan.Tests.Model;

/// <summary><c>iommusan demo</c>, run in-process through the command-line parser.</summary>
public sealed class DemoCommandTests
{
    private static (int ExitCode, string Output) Invoke(params string[] args)
    {
        var root = new RootCommand("test");
        root.Subcommands.Add(DemoCommand.Create());
        var output = new StringWriter();
        var error = new StringWriter();
        var parse = root.Parse(args);
        var exit = parse.Errors.Count > 0 ? 2 : parse.Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString());
    }

    [Fact]
    public void Demo_prints_the_page_leak_warning_and_exits_1()
    {
        var (exit, output) = Invoke("demo");

        Assert.Equal(1, exit);
        Assert.Contains("WARNING: drivers/iommu/iommu-debug-pagealloc.c at __iommu_debug_check_unmapped\niommu: Detected page leak!\n  pfn 0x80000 (paddr 0x80000000) IOMMU map count 1\n", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("page last allocated via order 0, gfp_mask 0xcc0, by demo_driver_probe", output, StringComparison.Ordinal);
        Assert.Contains("still mapped in domain 0000:00:01.0: iova 0xffef0000 -> paddr 0x80000000 size 0x1000", output, StringComparison.Ordinal);
        Assert.Contains("[clean] alloc_page, iommu_map, iommu_unmap, __free_page\n  no findings", output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("mode kernel-exact", output, StringComparison.Ordinal);
        Assert.Contains("513 page leak finding(s).", output, StringComparison.Ordinal); // 2 real, 511 false (VT-d)
    }

    [Fact]
    public void Precise_mode_reports_only_the_real_leak()
    {
        var (exit, output) = Invoke("demo", "--mode", "precise");

        Assert.Equal(1, exit);
        Assert.Contains("mode precise", output, StringComparison.Ordinal);
        Assert.Contains("2 page leak finding(s).", output, StringComparison.Ordinal);
        Assert.DoesNotContain("a stale count", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_mode_is_a_usage_error()
    {
        Assert.Equal(2, Invoke("demo", "--mode", "fast").ExitCode);
    }
}
