using System.Text;
using System.Text.Json;
using IommuSan.Cli;
using IommuSan.Cli.Commands;
using IommuSan.Tests.Trace.Text;
using IommuSan.Trace;
using IommuSan.Trace.Records;

namespace IommuSan.Tests.Cli;

/// <summary><c>iommusan dump</c> run in-process on the real captures.</summary>
public sealed class DumpCommandTests
{
    [Theory]
    [InlineData("tracepoints-page_uaf-clean", "trace.dat", 18555)]
    [InlineData("kprobes-page_uaf-clean", "trace-v6.dat.gz", 23512)]
    [InlineData("tracepoints-page_uaf-clean", "trace.txt.gz", 18322)]
    public void Every_event_is_one_parseable_json_line(string sample, string file, int expectedEvents)
    {
        var (exit, lines, stderr) = Dump(Samples.PathOf(sample, file), null);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal(expectedEvents, lines.Count);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            Assert.Equal(JsonValueKind.Number, root.GetProperty("time_ns").ValueKind);
            Assert.Equal(JsonValueKind.Object, root.GetProperty("fields").ValueKind);
        }

        Assert.Equal(string.Empty, stderr);
    }

    [Fact]
    public void Dma_map_sg_arrays_that_trace_cmd_cannot_print_are_decoded()
    {
        var (_, lines, _) = Dump(Samples.PathOf("tracepoints-page_uaf-clean", "trace.dat"), EventFilter.Parse("dma:dma_map_sg"));

        Assert.Equal(72, lines.Count);
        using var doc = JsonDocument.Parse(lines[0]);
        var fields = doc.RootElement.GetProperty("fields");
        Assert.Equal("0000:00:03.0", fields.GetProperty("device").GetString());
        Assert.Equal([0x2bf1000UL, 0xf400000UL], fields.GetProperty("phys_addrs").EnumerateArray().Select(v => v.GetUInt64()));
        Assert.Equal([0xfffa0000UL], fields.GetProperty("dma_addrs").EnumerateArray().Select(v => v.GetUInt64()));
        Assert.Equal([0x10000UL], fields.GetProperty("lengths").EnumerateArray().Select(v => v.GetUInt64()));
    }

    [Fact]
    public void Events_filter_keeps_only_the_named_events()
    {
        var (_, lines, _) = Dump(Samples.PathOf("tracepoints-page_uaf-clean", "trace.txt.gz"), EventFilter.Parse("iommu:map,iommu:unmap"));

        Assert.Equal(1202 + 393, lines.Count);
        Assert.All(lines, l => Assert.Matches("\"system\":\"iommu\",\"event\":\"(map|unmap)\"", l));
    }

    [Fact]
    public void A_missing_file_exits_2_with_one_line()
    {
        var (exit, lines, stderr) = Dump(Path.Combine(AppContext.BaseDirectory, "no-such-trace.dat"), null);

        Assert.Equal(ExitCodes.UsageOrInput, exit);
        Assert.Empty(lines);
        var errorLine = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("iommusan: ", errorLine, StringComparison.Ordinal);
        Assert.Contains("no-such-trace.dat", errorLine, StringComparison.Ordinal);
    }

    [Fact]
    public void Diagnostics_go_to_stderr_one_line_each_after_the_events()
    {
        var (exit, lines, stderr) = Dump(TextGolden.FixturePath("ftrace-irq-info.txt"), null);

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Equal(17, lines.Count);
        var diagnostics = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // lost events, the excerpt's lines taken from different moments (time steps back on both CPUs), a bad map, a junk line
        Assert.Equal(5, diagnostics.Length);
        Assert.Contains(diagnostics, d => d.Contains("events-lost cpu 1: 17 at line 19", StringComparison.Ordinal));
        Assert.Contains(diagnostics, d => d.Contains("time-went-backwards cpu 0: 2 at line 26", StringComparison.Ordinal));
    }

    private static (int Exit, List<string> Lines, string Stderr) Dump(string path, EventFilter? filter)
    {
        using var stdout = new MemoryStream();
        using var stderr = new StringWriter();
        var exit = DumpCommand.Run(path, new TraceOpenOptions(), filter, stdout, stderr);
        var lines = Encoding.UTF8.GetString(stdout.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        return (exit, lines, stderr.ToString());
    }
}
