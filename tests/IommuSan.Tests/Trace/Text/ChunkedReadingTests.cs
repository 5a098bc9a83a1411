using System.IO.Compression;
using System.Text;
using IommuSan.Trace;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Records;
using IommuSan.Trace.Text;

namespace IommuSan.Tests.Trace.Text;

/// <summary>
/// Text traces are decoded by worker threads one chunk (~1 MiB of lines) at a time: a trace of many
/// chunks must read exactly like its parts, in file order, with absolute line numbers.
/// </summary>
public sealed class ChunkedReadingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iommusan-chunk-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_trace_of_many_chunks_reads_like_its_copies_in_file_order()
    {
        var lines = SampleLines("tracepoints-page_uaf-clean");
        var single = Read(Write("one.txt", lines));

        // Three copies (~7 MB, several chunks each), a lost-events line in the second and a junk line in the third.
        var all = new List<string>(lines);
        all.AddRange(lines);
        var lostLine = all.Count + 1;
        all.Add("CPU:1 [LOST 5 EVENTS]");
        var junkLine = all.Count + (lines.Count / 2) + 1;
        all.AddRange(lines[..(lines.Count / 2)]);
        all.Add("this is not a trace line");
        all.AddRange(lines[(lines.Count / 2)..]);
        using var source = TraceFile.Open(Write("three.txt", all));
        var events = source.ReadEvents().Select(Describe).ToList();

        Assert.Equal(3 * single.Count, events.Count);
        Assert.Equal(single, events[..single.Count]);
        Assert.Equal(single, events[single.Count..(2 * single.Count)]);
        Assert.Equal(single, events[(2 * single.Count)..]);
        var diagnostics = source.Diagnostics.ToList();
        Assert.Equal($"line {lostLine}", Assert.Single(diagnostics, d => d.Kind == DiagnosticCatalog.EventsLost).Location);
        Assert.Equal($"line {junkLine}", Assert.Single(diagnostics, d => d.Kind == DiagnosticCatalog.UnparsableLine).Location);

        // Each copy starts the clocks again: seen where the second copy's first event is.
        var firstEventLine = lines.FindIndex(l => !l.StartsWith('#')) + 1;
        Assert.Equal($"line {lines.Count + firstEventLine}", diagnostics.First(d => d.Kind == DiagnosticCatalog.TimeWentBackwards).Location);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Any_number_of_workers_hands_out_the_same_events_in_the_same_order(int workers)
    {
        var lines = SampleLines("tracepoints-page_uaf-clean");
        var all = new List<string>(lines);
        all.AddRange(lines);
        var path = Write("two.txt", all);
        var expected = Read(path);

        using var file = File.OpenRead(path);
        var probes = new SynthesizedProbes();
        using var chunks = new TextChunkPipeline(file, file, path, () => new TextChunkDecoder(path, new TextEventCatalog([], probes: probes), null), workers);
        var actual = new List<string>();
        long nextLine = 1;
        while (true)
        {
            var chunk = chunks.Take();
            Assert.Equal(nextLine, chunk.FirstLineNumber);
            foreach (var e in chunk.Events)
            {
                actual.Add($"{e.TimeNs} {e.Cpu} {e.Pid} {e.Comm} {e.Format.System}:{e.Format.Name} {Convert.ToHexString(chunk.Payloads.AsSpan(e.PayloadStart, e.PayloadLength))}");
            }

            nextLine += chunk.Input.AsSpan(0, chunk.InputLength).Count((byte)'\n');
            var end = chunk.End;
            chunks.Return(chunk);
            if (end)
            {
                break;
            }
        }

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void An_error_late_in_a_large_trace_comes_after_every_event_before_it()
    {
        var lines = SampleLines("tracepoints-page_uaf-clean");
        var expected = Read(Write("one.txt", lines)).Count;
        var withLongLine = new List<string>(lines) { new('x', 2 << 20), lines[^1] };
        using var source = TraceFile.Open(Write("long.txt", withLongLine));

        var seen = 0;
        var ex = Assert.Throws<TraceDataException>(() =>
        {
            foreach (var e in source.ReadEvents())
            {
                seen++;
            }
        });

        Assert.Equal(expected, seen);
        Assert.Equal(lines.Count + 1, ex.Line);
    }

    [Fact]
    public void A_compressed_trace_corrupt_midway_hands_out_the_lines_before_then_the_error()
    {
        var lines = SampleLines("tracepoints-page_uaf-clean");
        var full = Read(Write("one.txt", lines));
        var gz = new MemoryStream();
        using (var zip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            zip.Write(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
        }

        var path = Path.Combine(_dir, "corrupt.txt.gz");
        var bytes = gz.ToArray();
        bytes.AsSpan((int)(gz.Length * 7 / 10), 64).Fill(0xff);
        File.WriteAllBytes(path, bytes);
        using var source = TraceFile.Open(path);

        var seen = new List<string>();
        Assert.Throws<TraceDataException>(() =>
        {
            foreach (var e in source.ReadEvents())
            {
                seen.Add(Describe(e));
            }
        });

        // The events before the damage, in order and whole (the chunk that hit the error included).
        Assert.InRange(seen.Count, full.Count / 2, full.Count - 1);
        Assert.Equal(full[..seen.Count], seen);
    }

    [Fact]
    public void A_probe_met_in_several_chunks_has_one_format_and_the_same_id_every_read()
    {
        // ~4 MB of kprobe text without format files: several chunks, decoded by different workers.
        var path = Samples.PathOf("kprobes-lazy-scenarios", "trace.txt.gz");
        var ids = new List<int>();
        for (var read = 0; read < 2; read++)
        {
            using var source = TraceFile.Open(path);
            var formats = source.ReadEvents().Where(e => e.Name == "__iommu_map").Select(e => e.Format).Distinct().ToList();

            var format = Assert.Single(formats);
            Assert.True(format.IsProbe);
            Assert.InRange(format.Id, 60000, 65535);
            Assert.Contains(format, source.Formats);
            ids.Add(format.Id);
        }

        Assert.Equal(ids[0], ids[1]);
    }

    [Fact]
    public async Task Stopping_early_stops_the_workers()
    {
        var path = Samples.PathOf("tracepoints-page_uaf-clean", "trace.txt.gz");
        var done = Task.Run(() =>
        {
            for (var i = 0; i < 20; i++)
            {
                using var source = TraceFile.Open(path);
                Assert.Equal(10, source.ReadEvents().Take(10).Count());
            }
        });

        var finished = await Task.WhenAny(done, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.True(finished == done, "disposing a half-read text trace did not return");
        await done;
    }

    private static List<string> SampleLines(string sample)
    {
        using var gz = new GZipStream(File.OpenRead(Samples.PathOf(sample, "trace.txt.gz")), CompressionMode.Decompress);
        using var reader = new StreamReader(gz, Encoding.UTF8);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    private string Write(string name, List<string> lines)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, string.Join('\n', lines) + "\n");
        return path;
    }

    private static List<string> Read(string path)
    {
        using var source = TraceFile.Open(path);
        return source.ReadEvents().Select(Describe).ToList();
    }

    private static string Describe(TraceEvent e) =>
        $"{e.TimeNs} {e.Cpu} {e.Pid} {e.Comm} {e.System}:{e.Name} {Convert.ToHexString(e.Payload.Span)}";
}
