using BenchmarkDotNet.Attributes;
using IommuSan.Replay;
using IommuSan.Trace.Events;

namespace IommuSan.Bench.Check;

/// <summary>
/// Replay throughput (decoded events per second) on a synthetic stream shaped like the real captures:
/// mostly page alloc/free (with batched twins), some maps and unmaps attributed by kprobes or by
/// dma events. Decoding is excluded (the stream is pre-decoded); the model does all the counting.
/// </summary>
[MemoryDiagnoser]
public class ReplayThroughputBenchmark
{
    private const int Events = 1_000_000;
    private CheckEvent[] _stream = [];

    [Params(false, true)]
    public bool Kprobes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var list = new List<CheckEvent>(Events);
        var t = 1_000_000_000L;
        var rng = new Random(42);
        ulong iova = 0xfff00000;
        while (list.Count < Events)
        {
            var cpu = rng.Next(2);
            var pfn = (ulong)rng.Next(0x10000, 0x80000);
            list.Add(new CheckEvent { Kind = CheckEventKind.PageAlloc, TimeNs = t += 1000, Cpu = cpu, Pid = 10, Comm = "bench", Name = "mm_page_alloc", Pfn = pfn, GfpFlags = 0xcc0 });
            if (rng.Next(10) == 0)
            {
                iova = iova <= 0xff000000 ? 0xfff00000 : iova - 0x1000;
                if (Kprobes)
                {
                    list.Add(new CheckEvent { Kind = CheckEventKind.ProbeDomainCall, TimeNs = t += 100, Cpu = cpu, Pid = 10, Comm = "bench", Name = "__iommu_map", Domain = 0xd1, Iova = iova, Size = 4096, ProbeAddress = 1 });
                }

                list.Add(new CheckEvent { Kind = CheckEventKind.IommuMap, TimeNs = t += 100, Cpu = cpu, Pid = 10, Comm = "bench", Name = "map", Iova = iova, Paddr = pfn << 12, Size = 4096 });
                if (Kprobes)
                {
                    list.Add(new CheckEvent { Kind = CheckEventKind.ProbeReturn, TimeNs = t += 100, Cpu = cpu, Pid = 10, Comm = "bench", Name = "__iommu_map_ret", ProbeAddress = 1 });
                }

                list.Add(new CheckEvent { Kind = CheckEventKind.DmaMap, TimeNs = t += 100, Cpu = cpu, Pid = 10, Comm = "bench", Name = "dma_map_page", Device = "0000:00:01.0", DmaAddr = iova, DmaEnd = iova + 4096, Size = 4096 });
                list.Add(new CheckEvent { Kind = CheckEventKind.IommuUnmap, TimeNs = t += 1000, Cpu = cpu, Pid = 10, Comm = "bench", Name = "unmap", Iova = iova, Size = 4096, UnmappedSize = 4096 });
                list.Add(new CheckEvent { Kind = CheckEventKind.DmaUnmap, TimeNs = t += 100, Cpu = cpu, Pid = 10, Comm = "bench", Name = "dma_unmap_page", Device = "0000:00:01.0", DmaAddr = iova, DmaEnd = iova + 4096, Size = 4096 });
            }

            list.Add(new CheckEvent { Kind = CheckEventKind.PageFree, TimeNs = t += 1000, Cpu = cpu, Pid = 10, Comm = "bench", Name = "mm_page_free", Pfn = pfn });
            list.Add(new CheckEvent { Kind = CheckEventKind.PageFreeBatched, TimeNs = t += 100, Cpu = cpu, Pid = 10, Comm = "bench", Name = "mm_page_free_batched", Pfn = pfn });
        }

        _stream = [.. list];
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public int Replay()
    {
        var options = new CheckOptions();
        var replayer = new Replayer(options, new ModelSanitizerDriver(options));
        foreach (ref readonly var e in _stream.AsSpan())
        {
            replayer.Add(e);
        }

        return replayer.Finish().Findings.Count;
    }
}
