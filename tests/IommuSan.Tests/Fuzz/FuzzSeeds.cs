using System.IO.Compression;
using IommuSan.Testing.TraceDat;

namespace IommuSan.Tests.Fuzz;

/// <summary>What a seed is, so the mutator knows which mutations make sense.</summary>
internal enum SeedShape
{
    /// <summary>A binary trace.dat (real or synthetic).</summary>
    TraceDat,

    /// <summary>A text trace (ftrace, trace-cmd report, perf script): line-aware mutations apply.</summary>
    Text,

    /// <summary>A gzip or zstd file wrapping a trace: only byte-level mutations of the compressed stream.</summary>
    Compressed,
}

/// <summary>One valid input the fuzzer starts from.</summary>
/// <param name="Name">Stable name, part of every finding's reproduction line.</param>
/// <param name="Bytes">The valid file.</param>
/// <param name="Shape">Which mutations apply.</param>
/// <param name="Extension">File name suffix the input is written with (the format is sniffed, not taken from it).</param>
/// <param name="FormatsDirectory">The capture's formats/ folder for text excerpts of kprobe captures (as the CLI finds it).</param>
/// <param name="Fields">Known length, count and offset fields (offset, width in bytes), for length-aware mutations.</param>
internal sealed record FuzzSeed(
    string Name,
    byte[] Bytes,
    SeedShape Shape,
    string Extension,
    string? FormatsDirectory = null,
    IReadOnlyList<(string Name, long Offset, int Width)>? Fields = null);

/// <summary>
/// The seed corpus: the real captures under samples/ (trace.dat v7, the head of trace.txt.gz), the
/// text fixtures (trace-cmd report, perf script, ftrace variants), small synthetic trace.dat files in
/// every layout the writer makes (with a map of their length fields), and gzip/zstd wrappers.
/// Built once per test run; every seed is deterministic, so a case seed replays exactly.
/// </summary>
internal static class FuzzSeeds
{
    /// <summary>How much of a real trace.txt.gz is used: enough for thousands of events, small enough to fuzz quickly.</summary>
    public const int TextExcerptBytes = 256 * 1024;

    private static readonly Lazy<IReadOnlyList<FuzzSeed>> RealDatSeeds = new(LoadRealDat);
    private static readonly Lazy<IReadOnlyList<FuzzSeed>> SyntheticDatSeeds = new(BuildSyntheticDat);
    private static readonly Lazy<IReadOnlyList<FuzzSeed>> TextSeeds = new(LoadText);
    private static readonly Lazy<IReadOnlyList<FuzzSeed>> CompressedSeeds = new(BuildCompressed);

    public static string SamplesDir => Path.Combine(AppContext.BaseDirectory, "samples");

    public static string TextFixturesDir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "text");

    public static IReadOnlyList<FuzzSeed> RealDat => RealDatSeeds.Value;

    public static IReadOnlyList<FuzzSeed> SyntheticDat => SyntheticDatSeeds.Value;

    public static IReadOnlyList<FuzzSeed> Text => TextSeeds.Value;

    public static IReadOnlyList<FuzzSeed> Compressed => CompressedSeeds.Value;

    /// <summary>The two smallest real captures (v7, zstd): reading one whole takes well under a second.</summary>
    private static List<FuzzSeed> LoadRealDat()
    {
        var seeds = new List<FuzzSeed>();
        foreach (var capture in new[] { "tracepoints-page_uaf-clean", "kprobes-page_uaf-clean" })
        {
            var path = Path.Combine(SamplesDir, capture, "trace.dat");
            seeds.Add(new FuzzSeed($"{capture}/trace.dat", File.ReadAllBytes(path), SeedShape.TraceDat, ".dat", Fields: V7Fields.Find(File.ReadAllBytes(path))));
        }

        return seeds;
    }

    private static List<FuzzSeed> BuildSyntheticDat()
    {
        var seeds = new List<FuzzSeed>();
        var layouts = new (int Version, DatCompression Compression, bool BigEndian, int LongSize)[]
        {
            (6, DatCompression.None, false, 8), (7, DatCompression.None, false, 8), (7, DatCompression.Zstd, false, 8),
            (7, DatCompression.Zlib, false, 8), (6, DatCompression.None, true, 8), (7, DatCompression.Zstd, false, 4),
        };
        foreach (var (version, compression, bigEndian, longSize) in layouts)
        {
            var trace = new SyntheticTrace(seed: 7, bigEndian, longSize);
            var options = new TraceDatWriterOptions
            {
                Version = version, Compression = compression, BigEndian = bigEndian, LongSize = longSize, CpuCount = 2,
                Formats = SyntheticTrace.Formats, Comms = trace.Comms, ChunkPages = 2,
                LostEventsBeforePage = new Dictionary<(int Cpu, int Page), long> { [(1, 1)] = 5 },
            };
            using var ms = new MemoryStream();
            var map = TraceDatWriter.Write(ms, options, cpu => trace.EventsOfCpu(cpu, 300, copyPayloads: false));
            var fields = map.Fields.Select(f => (f.Key, f.Value.Offset, f.Value.Width)).OrderBy(f => f.Offset).ToList();
            var name = $"synthetic-v{version}-{compression.ToString().ToLowerInvariant()}{(bigEndian ? "-be" : string.Empty)}-long{longSize}";
            seeds.Add(new FuzzSeed(name, ms.ToArray(), SeedShape.TraceDat, ".dat", Fields: fields));
        }

        return seeds;
    }

    private static List<FuzzSeed> LoadText()
    {
        var seeds = new List<FuzzSeed>();
        foreach (var capture in new[] { "tracepoints-page_uaf-clean", "kprobes-page_uaf-clean", "tracepoints-lazy-scenarios" })
        {
            var dir = Path.Combine(SamplesDir, capture);
            seeds.Add(new FuzzSeed($"{capture}/trace.txt.gz[..{TextExcerptBytes / 1024}K]", TextExcerpt(Path.Combine(dir, "trace.txt.gz")), SeedShape.Text, ".txt", Path.Combine(dir, "formats")));
        }

        // The kprobe capture without its formats folder: probe formats are synthesised from mutated lines and fed to check.
        seeds.Add(new FuzzSeed($"kprobes-page_uaf-clean/trace.txt.gz[..{TextExcerptBytes / 1024}K] without formats",
            TextExcerpt(Path.Combine(SamplesDir, "kprobes-page_uaf-clean", "trace.txt.gz")), SeedShape.Text, ".txt"));

        foreach (var path in Directory.EnumerateFiles(TextFixturesDir, "*.txt").Order(StringComparer.Ordinal))
        {
            seeds.Add(new FuzzSeed($"Fixtures/text/{Path.GetFileName(path)}", File.ReadAllBytes(path), SeedShape.Text, ".txt"));
        }

        return seeds;
    }

    private static List<FuzzSeed> BuildCompressed()
    {
        var text = File.ReadAllBytes(Path.Combine(TextFixturesDir, "ftrace-irq-info.txt"));
        var dat = SyntheticDat.First(s => s.Name.StartsWith("synthetic-v7-none", StringComparison.Ordinal)).Bytes;
        return
        [
            new FuzzSeed("gzip(ftrace-irq-info.txt)", Gzip(text), SeedShape.Compressed, ".txt.gz"),
            new FuzzSeed("zstd(ftrace-irq-info.txt)", Zstd(text), SeedShape.Compressed, ".txt.zst"),
            new FuzzSeed("gzip(synthetic-v7-none)", Gzip(dat), SeedShape.Compressed, ".dat.gz"),
        ];
    }

    /// <summary>The first <see cref="TextExcerptBytes"/> of a compressed text trace, cut after a whole line.</summary>
    private static byte[] TextExcerpt(string gzPath)
    {
        using var gz = new GZipStream(File.OpenRead(gzPath), CompressionMode.Decompress);
        var buffer = new byte[TextExcerptBytes];
        var n = gz.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        var end = buffer.AsSpan(0, n).LastIndexOf((byte)'\n') + 1;
        return buffer[..end];
    }

    private static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(data);
        }

        return ms.ToArray();
    }

    private static byte[] Zstd(byte[] data)
    {
        using var compressor = new ZstdSharp.Compressor(3);
        return compressor.Wrap(data).ToArray();
    }
}
