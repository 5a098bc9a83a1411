using System.Text.Json;
using IommuSan.Replay;
using IommuSan.Reporting;
using IommuSan.Trace;

namespace IommuSan.Tests.Check;

/// <summary>Runs `check` on files and finds the shared real captures (samples/*/manifest.json) in the test output.</summary>
internal static class CheckTestSupport
{
    public static string SamplesDir => Path.Combine(AppContext.BaseDirectory, "samples");

    public static CheckReport CheckFile(string path, CheckMode mode = CheckMode.Precise)
    {
        // As the CLI does: a text trace's kprobe formats come from the formats/ folder beside it.
        var formats = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "formats");
        using var source = TraceFile.Open(path, new TraceOpenOptions(FormatsDirectory: Directory.Exists(formats) ? formats : null));
        return TraceChecker.Check(source, new CheckOptions { Mode = mode }, o => new ModelSanitizerDriver(o), "test");
    }

    /// <summary>Every capture folder with a manifest, and each of its trace files (v7, v6, text). New folders are picked up automatically.</summary>
    public static IEnumerable<(string Folder, string Trace)> CaptureTraces()
    {
        foreach (var manifest in Directory.EnumerateFiles(SamplesDir, "manifest.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var folder = Path.GetDirectoryName(manifest)!;
            foreach (var name in new[] { "trace.dat", "trace-v6.dat", "trace-v6.dat.gz", "trace.txt", "trace.txt.gz" })
            {
                if (File.Exists(Path.Combine(folder, name)))
                {
                    yield return (Path.GetRelativePath(SamplesDir, folder), name);
                }
            }
        }
    }

    public static JsonDocument Manifest(string folder) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(SamplesDir, folder, "manifest.json")));
}
