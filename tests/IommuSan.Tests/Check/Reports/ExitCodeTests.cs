using System.CommandLine;
using IommuSan.Cli;
using IommuSan.Cli.Commands;

namespace IommuSan.Tests.Check.Reports;

/// <summary>The exit-code contract of `iommusan check`: 0 no findings, 1 findings, 2 bad usage or unreadable input.</summary>
[Collection("Console")]
public sealed class ExitCodeTests
{
    private static int Run(params string[] args)
    {
        var root = new RootCommand { CheckCommand.Create() };
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            return ExitCodes.UsageOrInput;
        }

        var stdout = Console.Out;
        var stderr = Console.Error;
        try
        {
            Console.SetOut(TextWriter.Null);
            Console.SetError(TextWriter.Null);
            return parse.Invoke();
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    private static string Sample(string folder, string file) => Path.Combine(CheckTestSupport.SamplesDir, folder, file);

    [Fact]
    public void A_trace_with_a_leak_exits_1()
    {
        Assert.Equal(ExitCodes.Findings, Run("check", Sample("tracepoints-page_uaf-clean", "trace.dat")));
    }

    [Fact]
    public void A_trace_with_only_live_mappings_at_the_end_exits_0()
    {
        var path = Path.Combine(Path.GetTempPath(), $"iommusan-clean-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, """
            # tracer: nop
            #
                      insmod-485     [001] .....    15.360772: mm_page_alloc: page=0xffffea00003cd280 pfn=0xf34a order=0 migratetype=0 gfp_flags=GFP_KERNEL
                      insmod-485     [001] .....    15.360843: map: IOMMU: iova=0x00000000ffef0000 - 0x00000000ffef1000 paddr=0x000000000f34a000 size=4096
                      insmod-485     [001] .....    15.360851: dma_map_page: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=ffef0000 size=4096 phys_addr=f34a000 attrs=
            """);
        try
        {
            Assert.Equal(ExitCodes.Ok, Run("check", path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_missing_file_exits_2()
    {
        Assert.Equal(ExitCodes.UsageOrInput, Run("check", Path.Combine(Path.GetTempPath(), "no-such-trace.dat")));
    }

    [Fact]
    public void A_bad_mode_is_bad_usage()
    {
        Assert.Equal(ExitCodes.UsageOrInput, Run("check", "--mode", "lax", Sample("tracepoints-page_uaf-clean", "trace.dat")));
    }

    [Fact]
    public void Several_traces_combine_exit_codes_and_each_gets_a_report()
    {
        var json = Path.Combine(Path.GetTempPath(), $"iommusan-{Guid.NewGuid():N}.json");
        try
        {
            Assert.Equal(ExitCodes.Findings, Run("check", "--json", json, Sample("tracepoints-page_uaf-clean", "trace.dat"), Sample("kprobes-page_uaf-clean", "trace.dat")));
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(json));
            Assert.Equal(2, doc.RootElement.GetArrayLength());

            // An unreadable trace among readable ones: the others are still checked, and the run exits 2.
            Assert.Equal(ExitCodes.UsageOrInput, Run("check", Sample("tracepoints-page_uaf-clean", "trace.dat"), Path.Combine(Path.GetTempPath(), "missing.dat")));
        }
        finally
        {
            File.Delete(json);
        }
    }
}

[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;
