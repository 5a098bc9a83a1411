using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using IommuSan.Testing.TraceDat;
using IommuSan.Trace.Dat;

namespace IommuSan.Bench.TraceDat;

/// <summary>
/// Decode-all-events throughput of <see cref="TraceDatReader"/> on a large synthetic trace.dat.
/// The file comes from IOMMUSAN_TRACE_DAT (bench/scripts/trace-dat.sh generates it at run time);
/// without it a 1M-event file is generated into the temp directory for the run.
/// </summary>
[MemoryDiagnoser]
public class TraceDatDecodeBenchmark
{
    private string _path = string.Empty;
    private bool _ownsFile;

    [GlobalSetup]
    public void Setup()
    {
        var given = Environment.GetEnvironmentVariable("IOMMUSAN_TRACE_DAT");
        if (!string.IsNullOrEmpty(given))
        {
            _path = given;
            return;
        }

        _path = Path.Combine(Path.GetTempPath(), $"iommusan-bench-{Environment.ProcessId}.dat");
        _ownsFile = true;
        TraceDatBenchTool.Generate(_path, 1_000_000, 4, DatCompression.Zstd);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_ownsFile)
        {
            File.Delete(_path);
        }
    }

    /// <summary>Every event decoded to time, cpu, pid, comm, format and payload (one field read so nothing is elided).</summary>
    [Benchmark]
    public long DecodeAllEvents() => TraceDatBenchTool.DecodeAll(_path).Checksum;
}

/// <summary>The command-line side of the benchmark: generate a file, time a full decode.</summary>
internal static class TraceDatBenchTool
{
    /// <summary>
    /// <c>trace-dat generate PATH EVENTS [CPUS] [none|zlib|zstd]</c> and <c>trace-dat decode PATH</c>.
    /// Returns the process exit code.
    /// </summary>
    public static int Run(string[] args)
    {
        if (args.Length >= 3 && args[0] == "generate")
        {
            var events = long.Parse(args[2], CultureInfo.InvariantCulture);
            var cpus = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 4;
            var compression = args.Length > 4 ? Enum.Parse<DatCompression>(args[4], ignoreCase: true) : DatCompression.Zstd;
            var sw = Stopwatch.StartNew();
            Generate(args[1], events, cpus, compression);
            Console.WriteLine($"generated {events} events on {cpus} cpus ({compression}) in {sw.Elapsed.TotalSeconds:F1} s: {new FileInfo(args[1]).Length} bytes");
            return 0;
        }

        if (args.Length >= 2 && args[0] == "decode")
        {
            // Optional repeat count: the first pass includes JIT warm-up, later passes show steady state.
            var repeat = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1;
            for (var i = 0; i < repeat; i++)
            {
                var sw = Stopwatch.StartNew();
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var (events, checksum) = DecodeAll(args[1]);
                var seconds = sw.Elapsed.TotalSeconds;
                var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
                Console.WriteLine($"decoded {events} events in {seconds:F3} s wall, {cpuSeconds:F3} s cpu ({events / seconds / 1e6:F1} M events/s, checksum {checksum})");
            }

            return 0;
        }

        Console.Error.WriteLine("usage: trace-dat generate PATH EVENTS [CPUS] [none|zlib|zstd] | trace-dat decode PATH");
        return 2;
    }

    /// <summary>A synthetic IOMMU/kmem/dma workload spread evenly over the CPUs, v7, streamed to disk.</summary>
    public static void Generate(string path, long events, int cpus, DatCompression compression)
    {
        var trace = new SyntheticTrace(seed: 1);
        var options = new TraceDatWriterOptions
        {
            Version = 7, Compression = compression, CpuCount = cpus, Formats = SyntheticTrace.Formats, Comms = trace.Comms,
        };
        using var f = File.Create(path);
        TraceDatWriter.Write(f, options, cpu => trace.EventsOfCpu(cpu, (events / cpus) + (cpu < events % cpus ? 1 : 0), copyPayloads: false));
    }

    public static (long Events, long Checksum) DecodeAll(string path)
    {
        using var reader = TraceDatReader.Open(path, File.OpenRead(path));
        long n = 0, checksum = 0;
        foreach (var e in reader.ReadEvents())
        {
            n++;
            checksum += e.TimeNs + e.Pid + e.Cpu + e.Payload.Length + e.Comm.Length + e.Format.Id;
        }

        return (n, checksum);
    }
}
