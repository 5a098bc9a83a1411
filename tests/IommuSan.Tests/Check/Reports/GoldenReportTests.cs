using IommuSan.Reporting;
using NJsonSchema;

namespace IommuSan.Tests.Check.Reports;

/// <summary>
/// Golden (snapshot) tests of the text and JSON reports on the real captures. Set IOMMUSAN_ACCEPT=1
/// to rewrite the snapshots under tests/IommuSan.Tests/Fixtures/check/ (docs/check.md).
/// </summary>
[Collection("Console")]
public sealed class GoldenReportTests
{
    public static TheoryData<string> Captures() => ["tracepoints-page_uaf-clean", "kprobes-page_uaf-clean"];

    [Theory]
    [MemberData(nameof(Captures))]
    public void Text_report_matches_its_snapshot(string folder)
    {
        var report = Check(folder);
        var text = string.Join("\n", TextReport.Render(report, showLive: true).Select(l => l.Text)) + "\n";
        Verify($"{folder}.trace.dat.txt", text);
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Json_report_matches_its_snapshot(string folder)
    {
        Verify($"{folder}.trace.dat.json", Check(folder).ToJson() + "\n");
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public async Task Json_report_validates_against_the_published_schema(string folder)
    {
        var schema = await JsonSchema.FromFileAsync(SchemaPath());
        var errors = schema.Validate(Check(folder).ToJson());
        Assert.Empty(errors.Select(e => $"{e.Path}: {e.Kind}"));
    }

    [Fact]
    public async Task Schema_rejects_a_report_missing_a_required_field()
    {
        var schema = await JsonSchema.FromFileAsync(SchemaPath());
        var json = Check("tracepoints-page_uaf-clean").ToJson().Replace("\"findings\":", "\"findingz\":", StringComparison.Ordinal);
        Assert.NotEmpty(schema.Validate(json));
    }

    private static CheckReport Check(string folder)
    {
        // Paths relative to samples/ so the snapshots do not depend on where the tests run.
        var cwd = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = CheckTestSupport.SamplesDir;
            return CheckTestSupport.CheckFile(Path.Combine(folder, "trace.dat"));
        }
        finally
        {
            Environment.CurrentDirectory = cwd;
        }
    }

    private static string SchemaPath() => Path.Combine(RepoRoot(), "docs", "schema", "check-report.schema.json");

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "IommuSan.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root not found above the test output");
    }

    private static void Verify(string name, string actual)
    {
        var source = Path.Combine(RepoRoot(), "tests", "IommuSan.Tests", "Fixtures", "check", name);
        if (Environment.GetEnvironmentVariable("IOMMUSAN_ACCEPT") == "1")
        {
            File.WriteAllText(source, actual);
            return;
        }

        Assert.True(File.Exists(source), $"no snapshot {source}: run the tests with IOMMUSAN_ACCEPT=1 to create it");
        Assert.Equal(File.ReadAllText(source), actual);
    }
}
