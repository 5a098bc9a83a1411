using IommuSan.Replay;
using IommuSan.Reporting;
using IommuSan.Trace.Events;
using IommuSan.Trace.Formats;
using IommuSan.Trace.Records;

namespace IommuSan.Tests.Check.Synthetic;

/// <summary>
/// Builds synthetic events with the real 6.12 format files of the kprobes capture (payloads laid out
/// by PayloadBuilder, decoded by the check's decoder) and replays them through the real model.
/// </summary>
internal sealed class SyntheticTrace
{
    private static readonly Lazy<Dictionary<string, EventFormat>> Formats = new(LoadFormats);
    private readonly CheckEventDecoder _decoder = new();
    private readonly Replayer _replayer;
    private readonly CheckOptions _options;
    private long _timeNs = 1_000_000_000;

    public SyntheticTrace(CheckMode mode = CheckMode.Precise)
    {
        _options = new CheckOptions { Mode = mode };
        _replayer = new Replayer(_options, new ModelSanitizerDriver(_options));
    }

    /// <summary>Advances trace time (default 1 us per event).</summary>
    public SyntheticTrace After(long ns)
    {
        _timeNs += ns;
        return this;
    }

    public SyntheticTrace Map(ulong iova, ulong paddr, ulong size, int cpu = 0, int pid = 100) =>
        Emit("iommu/map", cpu, pid, b => b.Set("iova", iova).Set("paddr", paddr).Set("size", size));

    public SyntheticTrace Unmap(ulong iova, ulong size, ulong unmapped, int cpu = 0, int pid = 100) =>
        Emit("iommu/unmap", cpu, pid, b => b.Set("iova", iova).Set("size", size).Set("unmapped_size", unmapped));

    public SyntheticTrace DmaMapPage(string device, ulong dma, ulong phys, ulong size, int cpu = 0, int pid = 100) =>
        Emit("dma/dma_map_page", cpu, pid, b => b.SetString("device", device).Set("dma_addr", dma).Set("phys_addr", phys).Set("size", size));

    public SyntheticTrace DmaUnmapPage(string device, ulong dma, ulong size, int cpu = 0, int pid = 100) =>
        Emit("dma/dma_unmap_page", cpu, pid, b => b.SetString("device", device).Set("addr", dma).Set("size", size));

    public SyntheticTrace DmaMapSg(string device, ulong[] dma, ulong[] lengths, ulong[] phys, int cpu = 0, int pid = 100) =>
        Emit("dma/dma_map_sg", cpu, pid, b => b.SetString("device", device).SetArray("dma_addrs", dma).SetArray("lengths", lengths).SetArray("phys_addrs", phys)
            .Set("full_nents", (ulong)dma.Length).Set("full_ents", (ulong)dma.Length));

    public SyntheticTrace DmaUnmapSg(string device, ulong[] phys, int cpu = 0, int pid = 100) =>
        Emit("dma/dma_unmap_sg", cpu, pid, b => b.SetString("device", device).SetArray("addrs", phys));

    public SyntheticTrace ProbeMap(ulong domain, ulong iova, ulong paddr, ulong size, int cpu = 0, int pid = 100) =>
        Emit("kprobes/__iommu_map", cpu, pid, b => b.Set("__probe_ip", 0xffffffff81000000).Set("domain", domain).Set("iova", iova).Set("paddr", paddr).Set("size", size));

    public SyntheticTrace ProbeUnmap(ulong domain, ulong iova, ulong size, int cpu = 0, int pid = 100) =>
        Emit("kprobes/__iommu_unmap", cpu, pid, b => b.Set("__probe_ip", 0xffffffff81001000).Set("domain", domain).Set("iova", iova).Set("size", size));

    public SyntheticTrace DomainFree(ulong domain, int cpu = 0, int pid = 100) =>
        Emit("kprobes/iommu_domain_free", cpu, pid, b => b.Set("__probe_ip", 0xffffffff81002000).Set("domain", domain).Set("type", 3));

    public SyntheticTrace Alloc(ulong pfn, int order = 0, int cpu = 0, int pid = 100) =>
        Emit("kmem/mm_page_alloc", cpu, pid, b => b.Set("pfn", pfn).Set("order", (ulong)order).Set("gfp_flags", 0xcc0));

    public SyntheticTrace Free(ulong pfn, int order = 0, int cpu = 0, int pid = 100) =>
        Emit("kmem/mm_page_free", cpu, pid, b => b.Set("pfn", pfn).Set("order", (ulong)order));

    public SyntheticTrace FreeBatched(ulong pfn, int cpu = 0, int pid = 100) =>
        Emit("kmem/mm_page_free_batched", cpu, pid, b => b.Set("pfn", pfn));

    public CheckReport Report()
    {
        var result = _replayer.Finish();
        return CheckReportBuilder.Build(result, "synthetic", TraceKind.FtraceText, 2, _options, false, result.Diagnostics.ToList(), "test");
    }

    private SyntheticTrace Emit(string format, int cpu, int pid, Action<PayloadBuilder> fill)
    {
        var builder = new PayloadBuilder(Formats.Value[format]);
        builder.Reset(pid);
        fill(builder);
        var e = new TraceEvent(_timeNs, cpu, pid, "task", builder.Format, builder.ToArray());
        _timeNs += 1000;
        Assert.True(_decoder.TryDecode(e, out var decoded), $"{format} not decoded");
        _replayer.Add(decoded);
        return this;
    }

    private static Dictionary<string, EventFormat> LoadFormats()
    {
        var dir = Path.Combine(CheckTestSupport.SamplesDir, "kprobes-page_uaf-clean", "formats");
        var formats = new Dictionary<string, EventFormat>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(dir, "*.format", SearchOption.AllDirectories))
        {
            var system = Path.GetFileName(Path.GetDirectoryName(file)!);
            formats[$"{system}/{Path.GetFileNameWithoutExtension(file)}"] = FormatParser.Parse(system, File.ReadAllText(file));
        }

        return formats;
    }
}
