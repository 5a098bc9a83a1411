using IommuSan.Trace.Formats;
using IommuSan.Trace.Records;

namespace IommuSan.Testing.TraceDat;

/// <summary>
/// Deterministic synthetic IOMMU workload for round trips and benchmarks: page allocations and frees,
/// kmalloc/kfree, DMA maps with their iommu:map/unmap, scatter-gather maps with arrays, and the odd
/// trace_marker write, with real 6.12 format layouts (<see cref="SyntheticFormats"/>). Each CPU's stream
/// depends only on (seed, cpu), so it can be regenerated lazily for traces of any size.
/// </summary>
internal sealed class SyntheticTrace
{
    private static readonly string[] Devices = ["0000:00:01.0", "0000:00:02.0", "0000:00:03.0"];

    private readonly int _seed;
    private readonly Dictionary<string, EventFormat> _formats = new(StringComparer.Ordinal);

    public SyntheticTrace(int seed, bool bigEndian = false, int longSize = 8)
    {
        _seed = seed;
        foreach (var f in SyntheticFormats.All)
        {
            var format = FormatParser.Parse(f.System, f.Text, longSize, bigEndian);
            _formats[format.Name] = format;
        }

        var comms = new Dictionary<int, string>();
        for (var pid = 100; pid < 132; pid++)
        {
            comms[pid] = (pid % 4) switch
            {
                0 => $"kworker/{pid % 8}:1",
                1 => "dd",
                2 => "ping",
                _ => "irq/42-nvme0q1",
            };
        }

        Comms = comms;
    }

    public static IReadOnlyList<DatFormatText> Formats => SyntheticFormats.All;

    /// <summary>pid -> comm for the pids the events use (100..131); pid 0 and 999 are left out on purpose.</summary>
    public IReadOnlyDictionary<int, string> Comms { get; }

    public EventFormat Format(string name) => _formats[name];

    /// <summary>
    /// The events of one CPU, in time order. With <paramref name="copyPayloads"/> false the payload memory is
    /// reused: each event is valid only until the next one is produced (what a streaming writer needs).
    /// </summary>
    public IEnumerable<DatEvent> EventsOfCpu(int cpu, long count, bool copyPayloads = true, ulong startTime = 13_000_000_000)
    {
        var rng = new Random(HashCode.Combine(_seed, cpu));
        var builders = new Dictionary<string, PayloadBuilder>(StringComparer.Ordinal);
        foreach (var (name, format) in _formats)
        {
            builders[name] = new PayloadBuilder(format);
        }

        var time = startTime + (ulong)cpu * 137;
        var iova = 0xffff_f000UL;
        var addrs = new ulong[4];
        var lengths = new ulong[4];
        var dmaAddrs = new ulong[1];
        for (long i = 0; i < count; i++)
        {
            // Mostly microseconds apart; now and then a pause longer than 2^27 ns (a time extend record).
            time += rng.Next(100) == 0 ? (ulong)rng.Next(150_000_000, 400_000_000) : (ulong)rng.Next(200, 20_000);
            var pid = rng.Next(50) == 0 ? (rng.Next(2) == 0 ? 0 : 999) : 100 + rng.Next(32);
            var pfn = 0x1000UL + (ulong)rng.Next(0x7_0000);
            var roll = rng.Next(1000);
            PayloadBuilder b;
            if (roll < 200)
            {
                b = builders["mm_page_alloc"].Reset(pid).Set("pfn", pfn).Set("order", (ulong)(rng.Next(8) == 0 ? 2 : 0))
                    .Set("gfp_flags", 0xcc0).Set("migratetype", (ulong)rng.Next(3));
            }
            else if (roll < 420)
            {
                b = builders["mm_page_free"].Reset(pid).Set("pfn", pfn).Set("order", 0);
            }
            else if (roll < 600)
            {
                b = builders["mm_page_free_batched"].Reset(pid).Set("pfn", pfn);
            }
            else if (roll < 680)
            {
                b = builders["kmalloc"].Reset(pid).Set("call_site", 0xffffffff81234567).Set("ptr", 0xff11_0000_0000_0000 | (pfn << 12))
                    .Set("bytes_req", 168).Set("bytes_alloc", 192).Set("gfp_flags", 0xcc0);
                b.TrySet("node", ulong.MaxValue);
            }
            else if (roll < 760)
            {
                b = builders["kfree"].Reset(pid).Set("call_site", 0xffffffff81234567).Set("ptr", 0xff11_0000_0000_0000 | (pfn << 12));
            }
            else if (roll < 840)
            {
                iova = iova <= 0x1000_0000 ? 0xffff_f000UL : iova - 0x1000;
                b = builders["map"].Reset(pid).Set("iova", iova).Set("paddr", pfn << 12).Set("size", 4096);
            }
            else if (roll < 880)
            {
                b = builders["unmap"].Reset(pid).Set("iova", iova).Set("size", 4096).Set("unmapped_size", 4096);
            }
            else if (roll < 920)
            {
                b = builders["dma_map_page"].Reset(pid).SetString("device", Devices[rng.Next(Devices.Length)])
                    .Set("phys_addr", pfn << 12).Set("dma_addr", iova).Set("size", 4096).Set("dir", 0).Set("attrs", 0);
            }
            else if (roll < 960)
            {
                b = builders["dma_unmap_page"].Reset(pid).SetString("device", Devices[rng.Next(Devices.Length)])
                    .Set("addr", iova).Set("size", 4096).Set("dir", 0).Set("attrs", 0);
            }
            else if (roll < 985)
            {
                var n = 1 + rng.Next(4);
                for (var k = 0; k < n; k++)
                {
                    addrs[k] = (pfn + (ulong)(k * 16)) << 12;
                    lengths[k] = 0x1000UL << rng.Next(4);
                }

                dmaAddrs[0] = iova;

                b = builders["dma_map_sg"].Reset(pid).SetString("device", "0000:00:03.0").Set("full_nents", (ulong)n).Set("full_ents", 1)
                    .SetArray("phys_addrs", addrs.AsSpan(0, n)).SetArray("dma_addrs", dmaAddrs).SetArray("lengths", lengths.AsSpan(0, n)).Set("dir", 2).Set("attrs", 0x100);
            }
            else if (roll < 999)
            {
                var n = 1 + rng.Next(4);
                for (var k = 0; k < n; k++)
                {
                    addrs[k] = (pfn + (ulong)(k * 16)) << 12;
                }

                b = builders["dma_unmap_sg"].Reset(pid).SetString("device", "0000:00:03.0").SetArray("addrs", addrs.AsSpan(0, n)).Set("dir", 2).Set("attrs", 0);
            }
            else
            {
                b = builders["print"].Reset(pid).Set("ip", 0xffffffff81000000).SetString("buf", $"iommu_scen: synthetic marker {i}\n");
            }

            yield return new DatEvent(cpu, time, copyPayloads ? b.ToArray() : b.AsMemory());
        }
    }
}
