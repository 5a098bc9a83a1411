using IommuSan.Findings;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Events;

namespace IommuSan.Replay;

/// <summary>
/// Replays decoded events (in trace order) into the model and turns what the model reports into
/// findings. Three stages, one per partial file:
/// <list type="bullet">
/// <item>attribution (<c>Replayer.Attribution.cs</c>): gives each iommu:map/unmap its domain, from
/// kprobes at once, from dma events after a bounded wait (events are held in a queue meanwhile);</item>
/// <item>apply (<c>Replayer.Apply.cs</c>): drives the model (page tables, counters, hooks) in trace order;</item>
/// <item>findings (<c>Replayer.Findings.cs</c>): page-leak and the others, with their evidence.</item>
/// </list>
/// </summary>
internal sealed partial class Replayer
{
    private readonly CheckOptions _options;
    private readonly ISanitizerDriver _model;
    private readonly DomainTable _domains;
    private readonly MappingStore _mappings = new();
    private readonly PageOwnerTable _owners = new();
    private readonly PendingQueue _queue = new();
    private readonly List<CpuState> _cpus = [];
    private readonly List<SanitizerReport> _reports = [];
    private readonly List<int> _slots = [];
    private readonly List<int> _physHits = [];
    private readonly int _pageShift;
    private readonly ulong _granuleMask;
    private long _nowNs;
    private long _serial;

    public Replayer(CheckOptions options, ISanitizerDriver model)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _model = model;
        _domains = new DomainTable(model);
        _pageShift = options.CpuPageShift;
        _granuleMask = options.Granule - 1;
    }

    public ReplayStatistics Statistics { get; } = new();

    public DiagnosticBag Diagnostics { get; } = new();

    public DomainTable Domains => _domains;

    /// <summary>Feeds one event. Events must come in trace order.</summary>
    public void Add(in CheckEvent e)
    {
        Statistics.Events++;
        _nowNs = e.TimeNs;
        switch (e.Kind)
        {
            case CheckEventKind.IommuMap:
            case CheckEventKind.IommuUnmap:
                AttributeIommuEvent(e);
                break;
            case CheckEventKind.PageAlloc:
            case CheckEventKind.PageFree:
            case CheckEventKind.PageFreeBatched:
                if (_queue.Count == 0)
                {
                    var item = new PendingItem { Event = e, Domain = -1 };
                    Apply(ref item);
                }
                else
                {
                    _queue.Enqueue(new PendingItem { Event = e, Domain = -1 });
                }

                break;
            case CheckEventKind.DmaMap:
            case CheckEventKind.DmaMapSg:
                OnDmaMap(e);
                break;
            case CheckEventKind.DmaUnmap:
                OnDmaUnmap(e);
                break;
            case CheckEventKind.DmaUnmapSg:
                Cpu(e.Cpu).LastUnmapSg = (true, e.Pid, e.Device ?? string.Empty, e.TimeNs);
                break;
            case CheckEventKind.ProbeDomainCall:
                Cpu(e.Cpu).PushProbe(new ProbeContext
                {
                    Domain = e.Domain, Iova = e.Iova, Size = e.Size, ProbeAddress = e.ProbeAddress, TimeNs = e.TimeNs, Pid = e.Pid,
                    IsMap = e.Flags == 1, Paddr = e.Paddr,
                });
                break;
            case CheckEventKind.ProbeReturn:
                Cpu(e.Cpu).PopProbe(e.ProbeAddress);
                break;
            case CheckEventKind.ProbeAttachDevice:
                if (!string.IsNullOrEmpty(e.Device))
                {
                    _domains.AddDevice(_domains.ForPointer(e.Domain), e.Device);
                }

                break;
            case CheckEventKind.ProbeDomainFree:
                _domains.Free(e.Domain);
                break;
            default:
                Statistics.IgnoredEvents++;
                break;
        }

        Drain(force: false);
    }

    /// <summary>Ends the replay: applies everything still held back and collects the live mappings.</summary>
    public ReplayResult Finish()
    {
        Drain(force: true);
        var s = Statistics;
        if (s.UnmapsOfUnseenMappings > 0 || s.FreesWithoutAlloc > 0)
        {
            Diagnostics.Add(
                DiagnosticCatalog.TraceStartsMidLife, null, s.UnmapsOfUnseenMappings + s.FreesWithoutAlloc, null, null,
                $"{s.UnmapsOfUnseenMappings} unmaps of mappings made before the trace started (ignored, never counted below zero); "
                + $"{s.FreesWithoutAlloc} frees of pages the trace never showed allocated");
        }

        return BuildResult();
    }

    private CpuState Cpu(int cpu)
    {
        if ((uint)cpu >= 4096)
        {
            cpu = 4095;
        }

        while (_cpus.Count <= cpu)
        {
            _cpus.Add(new CpuState());
        }

        return _cpus[cpu];
    }

    private void Drain(bool force)
    {
        while (_queue.Count > 0)
        {
            ref var head = ref _queue.Head;
            if (head.NeedsAttribution && !force
                && _nowNs - head.Event.TimeNs <= _options.AttributionWindowNs
                && _queue.Count <= _options.MaxPendingEvents)
            {
                return;
            }

            var item = head;
            var seq = _queue.HeadSeq;
            _queue.Dequeue();
            if (item.Event.Kind is CheckEventKind.IommuMap or CheckEventKind.IommuUnmap)
            {
                Cpu(item.Event.Cpu).Unresolved.Remove(seq);
            }

            Apply(ref item);
        }
    }

    private ulong AlignDown(ulong iova) => iova & ~_granuleMask;

    private ulong AlignUp(ulong address) => address > ulong.MaxValue - _granuleMask ? ulong.MaxValue : (address + _granuleMask) & ~_granuleMask;
}

/// <summary>Counts a report's summary shows.</summary>
internal sealed class ReplayStatistics
{
    public long Events { get; set; }

    public long IgnoredEvents { get; set; }

    public long Maps { get; set; }

    public long Unmaps { get; set; }

    public long PageAllocs { get; set; }

    public long PageFrees { get; set; }

    /// <summary>mm_page_free_batched events folded into the mm_page_free of the same free.</summary>
    public long BatchedFreesFolded { get; set; }

    public long AttributedByKprobe { get; set; }

    public long AttributedByDmaEvent { get; set; }

    public long AttributedByInference { get; set; }

    public long Unattributed { get; set; }

    /// <summary>Unmaps whose mapping was made before the trace started (nothing live to remove).</summary>
    public long UnmapsOfUnseenMappings { get; set; }

    /// <summary>Frees of pages the trace never showed allocated.</summary>
    public long FreesWithoutAlloc { get; set; }

    /// <summary><c>iommu:unmap size=0 unmapped_size=0</c>: the error path of a failed map.</summary>
    public long FailedMapUnwinds { get; set; }

    public long AmbiguousUnmaps { get; set; }

    /// <summary>Unmaps inside a map call that never emitted iommu:map: the error path of a map that failed half way.</summary>
    public long MapErrorPathUnmaps { get; set; }

    public int Domains { get; set; }
}
