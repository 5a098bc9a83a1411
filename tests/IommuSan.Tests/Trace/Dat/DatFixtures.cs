using System.IO.Compression;
using System.Text.Json;
using IommuSan.Trace.Dat;
using IommuSan.Trace.Records;

namespace IommuSan.Tests.Trace.Dat;

/// <summary>The real captures under samples/ and helpers to open them.</summary>
internal static class DatFixtures
{
    public static readonly string[] Captures = ["tracepoints-page_uaf-clean", "kprobes-page_uaf-clean"];

    public static string SampleDir(string capture) => Path.Combine(AppContext.BaseDirectory, "samples", capture);

    public static string V7Path(string capture) => Path.Combine(SampleDir(capture), "trace.dat");

    /// <summary>The v6 file of a capture, gunzipped into a temporary file (the caller deletes it).</summary>
    public static TempFile V6(string capture)
    {
        var temp = new TempFile(".dat");
        using (var gz = new GZipStream(File.OpenRead(Path.Combine(SampleDir(capture), "trace-v6.dat.gz")), CompressionMode.Decompress))
        using (var output = File.Create(temp.Path))
        {
            gz.CopyTo(output);
        }

        return temp;
    }

    public static TraceDatReader Open(string path) => TraceDatReader.Open(Path.GetFileName(path), File.OpenRead(path));

    /// <summary>The manifest's per-event counts for one file ("trace.dat" or "trace-v6.dat").</summary>
    public static Dictionary<string, long> ManifestCounts(string capture, string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(SampleDir(capture), "manifest.json")));
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.GetProperty("event_counts").GetProperty(file).EnumerateObject())
        {
            counts[p.Name] = p.Value.GetInt64();
        }

        return counts;
    }

    /// <summary>Everything a consumer sees of an event, copied out (payloads are reused by the reader).</summary>
    public static List<EventSnapshot> Snapshot(ITraceSource source, EventFilter? filter = null)
    {
        var list = new List<EventSnapshot>();
        foreach (var e in source.ReadEvents(filter))
        {
            list.Add(new EventSnapshot(e.TimeNs, e.Cpu, e.Pid, e.Comm, e.System, e.Name, Convert.ToHexString(e.Payload.Span)));
        }

        return list;
    }
}

internal readonly record struct EventSnapshot(long TimeNs, int Cpu, int Pid, string Comm, string System, string Name, string PayloadHex);

/// <summary>A temporary file deleted on dispose.</summary>
internal sealed class TempFile : IDisposable
{
    public TempFile(string extension = ".tmp")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"iommusan-{Guid.NewGuid():N}{extension}");
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
        }
    }
}
