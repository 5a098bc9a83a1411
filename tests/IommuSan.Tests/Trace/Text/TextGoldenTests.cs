using System.Runtime.CompilerServices;
using System.Text;
using IommuSan.Cli.Commands;
using IommuSan.Trace;
using IommuSan.Trace.Records;

namespace IommuSan.Tests.Trace.Text;

/// <summary>
/// Golden tests: each text fixture (real excerpts, see Fixtures/text/README.md) decodes to the
/// events written beside it. Set IOMMUSAN_ACCEPT=1 to rewrite the expected files, then review the diff.
/// </summary>
public sealed class TextGolden
{
    [Theory]
    [InlineData("ftrace-irq-info", "FtraceText")]
    [InlineData("ftrace-tgid-no-irq-info", "FtraceText")]
    [InlineData("trace-cmd-report", "TraceCmdReport")]
    [InlineData("trace-cmd-report-ts-ns", "TraceCmdReport")]
    [InlineData("perf-script", "PerfScript")]
    public void Fixture_decodes_to_its_golden_events(string name, string expectedKind)
    {
        using var source = TraceFile.Open(FixturePath($"{name}.txt"));
        var actual = DumpToString(source);

        Assert.Equal(expectedKind, source.Kind.ToString());
        var expectedPath = SourceFixturePath($"{name}.expected.jsonl");
        if (Environment.GetEnvironmentVariable("IOMMUSAN_ACCEPT") == "1")
        {
            File.WriteAllText(expectedPath, actual);
        }

        Assert.Equal(File.ReadAllText(FixturePath($"{name}.expected.jsonl")), actual);
    }

    internal static string FixturePath(string file) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "text", file);

    internal static string DumpToString(ITraceSource source)
    {
        using var memory = new MemoryStream();
        using (var writer = new DumpJsonWriter(memory))
        {
            foreach (var e in source.ReadEvents())
            {
                writer.Write(e);
            }
        }

        return Encoding.UTF8.GetString(memory.ToArray());
    }

    private static string SourceFixturePath(string file, [CallerFilePath] string here = "") =>
        Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "Fixtures", "text", file);
}
