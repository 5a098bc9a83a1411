using System.Diagnostics;
using System.Globalization;
using IommuSan.Trace;
using IommuSan.Trace.Text;

namespace IommuSan.Bench.Text;

/// <summary>
/// "text-time FILE [N [STAGE]]": a quick Stopwatch harness for tuning the text reader between
/// BenchmarkDotNet runs (which remain the measurement of record). Stages: "read 1MiB" (the file's
/// bytes only), "mem heads" / "mem payloads" (line heads, then heads plus payload decoding, on the
/// first 200 MB held in memory, one thread), "decode" (the real reader, every event); each with wall
/// and process CPU time, then min and median per stage. STAGE "types" prints ns per line by event name.
/// </summary>
internal static class TextTimeTool
{
    public static int Run(string[] args)
    {
        var path = args[0];
        var n = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
        s_only = args.Length > 2 ? args[2] : null;
        // The first 200 MB in memory, for stage timings without I/O noise (not needed to time "decode" alone).
        var data = s_only == "decode" ? [] : ReadPrefix(path, 200_000_000);

        var starts = new List<int> { 0 };
        for (var i = 0; i < data.Length; i++)
        {
            if (data[i] == '\n')
            {
                starts.Add(i + 1);
            }
        }

        if (s_only == "types")
        {
            ByType(data, starts);
            return 0;
        }

        for (var r = 0; r < n; r++)
        {
            Measure("mem heads", () =>
            {
                long sum = 0;
                var span = data.AsSpan();
                for (var k = 0; k + 1 < starts.Count; k++)
                {
                    if (TextLine.TryParse(span[starts[k]..(starts[k + 1] - 1)], out var head))
                    {
                        sum += head.BodyStart;
                    }
                }

                return sum;
            });
            Measure("mem payloads", () =>
            {
                long sum = 0;
                var span = data.AsSpan();
                var catalog = new TextEventCatalog([]);
                for (var k = 0; k + 1 < starts.Count; k++)
                {
                    var line = span[starts[k]..(starts[k + 1] - 1)];
                    if (TextLine.TryParse(line, out var head)
                        && catalog.Find(line.Slice(head.SystemStart, head.SystemLength), line.Slice(head.NameStart, head.NameLength)) is { } type
                        && type.Decoder.TryDecode(line[head.BodyStart..], head.Pid, out var payload))
                    {
                        sum += payload.Length;
                    }
                }

                return sum;
            });
            Measure("read 1MiB", () =>
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
                var buffer = new byte[1 << 20];
                long total = 0;
                int read;
                while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
                {
                    total += read;
                }

                return total;
            });
            Measure("decode", () =>
            {
                using var source = TraceFile.Open(path);
                long sum = 0;
                foreach (var e in source.ReadEvents())
                {
                    sum += e.Payload.Length;
                }

                return sum;
            });
        }

        foreach (var (what, times) in s_times)
        {
            times.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{what,-18} min {times[0],7:0} ms  median {times[times.Count / 2],7:0} ms  of {times.Count}"));
        }

        return 0;
    }

    private static readonly Dictionary<string, List<double>> s_times = [];

    private static string? s_only;

    private static byte[] ReadPrefix(string path, int bytes)
    {
        using var f = File.OpenRead(path);
        var data = new byte[Math.Min(f.Length, bytes)];
        f.ReadExactly(data);
        return data;
    }

    // ns per line of head parse + payload decode, by event name (in memory).
    private static void ByType(byte[] data, List<int> starts)
    {
        var groups = new Dictionary<string, List<(int, int)>>();
        for (var k = 0; k + 1 < starts.Count; k++)
        {
            var line = data.AsSpan(starts[k], starts[k + 1] - 1 - starts[k]);
            if (TextLine.TryParse(line, out var head))
            {
                var name = System.Text.Encoding.UTF8.GetString(line.Slice(head.NameStart, head.NameLength));
                if (!groups.TryGetValue(name, out var list))
                {
                    groups[name] = list = [];
                }

                list.Add((starts[k], starts[k + 1] - 1 - starts[k]));
            }
        }

        foreach (var (name, scattered) in groups.OrderByDescending(g => g.Value.Count))
        {
            // Contiguous copies, read in order as a file would be.
            var packed = new byte[scattered.Sum(l => l.Item2)];
            var lines = new List<(int, int)>();
            var at = 0;
            foreach (var (start, length) in scattered)
            {
                data.AsSpan(start, length).CopyTo(packed.AsSpan(at));
                lines.Add((at, length));
                at += length;
            }

            var bytes = packed;
            double best = double.MaxValue, bestHead = double.MaxValue;
            var catalog = new TextEventCatalog([]);
            for (var r = 0; r < 5; r++)
            {
                var sw = Stopwatch.StartNew();
                long sum = 0;
                foreach (var (start, length) in lines)
                {
                    if (TextLine.TryParse(bytes.AsSpan(start, length), out var head))
                    {
                        sum += head.BodyStart;
                    }
                }

                bestHead = Math.Min(bestHead, sw.Elapsed.TotalNanoseconds / lines.Count);
                sw.Restart();
                foreach (var (start, length) in lines)
                {
                    var line = bytes.AsSpan(start, length);
                    if (TextLine.TryParse(line, out var head)
                        && catalog.Find(line.Slice(head.SystemStart, head.SystemLength), line.Slice(head.NameStart, head.NameLength)) is { } type
                        && type.Decoder.TryDecode(line[head.BodyStart..], head.Pid, out var payload))
                    {
                        sum += payload.Length;
                    }
                }

                best = Math.Min(best, sw.Elapsed.TotalNanoseconds / lines.Count);
            }

            var ok = 0;
            foreach (var (start, length) in lines)
            {
                var line = bytes.AsSpan(start, length);
                if (TextLine.TryParse(line, out var head)
                    && catalog.Find(line.Slice(head.SystemStart, head.SystemLength), line.Slice(head.NameStart, head.NameLength)) is { } type
                    && type.Decoder.TryDecode(line[head.BodyStart..], head.Pid, out _))
                {
                    ok++;
                }
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-24} {lines.Count,8} lines  head {bestHead,5:0} ns  head+decode {best,5:0} ns  decoded {ok}"));
        }
    }

    private static void Measure(string what, Func<long> body)
    {
        if (s_only is not null && !what.StartsWith(s_only, StringComparison.Ordinal))
        {
            return;
        }

        var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        var allocated0 = GC.GetTotalAllocatedBytes(precise: true);
        var wall = Stopwatch.StartNew();
        var result = body();
        wall.Stop();
        if (!s_times.TryGetValue(what, out var list))
        {
            s_times[what] = list = [];
        }

        list.Add(wall.Elapsed.TotalMilliseconds);
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpu0;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated0;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{what,-18} wall {wall.Elapsed.TotalMilliseconds,7:0} ms  cpu {cpu.TotalMilliseconds,7:0} ms  allocated {allocated / 1e6,7:0.0} MB  ({result})"));
    }
}
