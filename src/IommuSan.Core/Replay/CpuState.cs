namespace IommuSan.Replay;

/// <summary>An open IOMMU call seen by an entry kprobe that recorded its domain pointer.</summary>
internal struct ProbeContext
{
    public ulong Domain;
    public ulong Iova;

    /// <summary>0 when the probe did not record a size (iommu_map_sg): then it covers every iova from <see cref="Iova"/> up.</summary>
    public ulong Size;

    public ulong ProbeAddress;
    public long TimeNs;
    public int Pid;

    /// <summary>The call maps (its probe recorded a paddr): an unmap inside it is the map's error path.</summary>
    public bool IsMap;
    public ulong Paddr;

    /// <summary>Its iommu:map was emitted: the call succeeded (it stays open until its return probe, if any).</summary>
    public bool Completed;

    public readonly bool Covers(ulong iova) => Size == 0 ? iova >= Iova : iova >= Iova && iova - Iova < Size;
}

/// <summary>A map or unmap recently attributed (for naming a domain's device from a later dma event).</summary>
internal struct RecentIommuEvent
{
    public int Pid;
    public ulong Iova;
    public int Domain;
    public bool IsMap;
    public long TimeNs;
}

/// <summary>Per-CPU attribution state. Every collection is bounded.</summary>
internal sealed class CpuState
{
    /// <summary>Deepest nesting of domain-carrying calls kept (a map interrupted by an irq-time unmap is two).</summary>
    public const int MaxProbeDepth = 16;

    /// <summary>An entry probe older than this with no return probe is forgotten (its function has no kretprobe).</summary>
    public const long ProbeContextLifetimeNs = 1_000_000_000;

    public const int RecentCount = 32;

    /// <summary>How many order-0 frees are remembered for folding their mm_page_free_batched twin.</summary>
    public const int MaxRememberedFrees = 4096;

    private readonly ProbeContext[] _probes = new ProbeContext[MaxProbeDepth];
    private int _probeCount;
    private readonly RecentIommuEvent[] _recent = new RecentIommuEvent[RecentCount];
    private int _recentNext;
    private readonly HashSet<ulong> _freedPfns = [];
    private readonly Queue<ulong> _freedOrder = new();

    /// <summary>Sequence numbers of this CPU's queued maps and unmaps still waiting for evidence.</summary>
    public List<long> Unresolved { get; } = [];

    /// <summary>The last dma_unmap_sg on this CPU (its iommu:unmap follows it).</summary>
    public (bool Valid, int Pid, string Device, long TimeNs) LastUnmapSg { get; set; }

    public void PushProbe(in ProbeContext context)
    {
        if (_probeCount == MaxProbeDepth)
        {
            Array.Copy(_probes, 1, _probes, 0, MaxProbeDepth - 1);
            _probeCount--;
        }

        _probes[_probeCount++] = context;
    }

    /// <summary>A kretprobe: closes the innermost open call of the same function (by address), else nothing.</summary>
    public void PopProbe(ulong function)
    {
        for (var i = _probeCount - 1; i >= 0; i--)
        {
            if (_probes[i].ProbeAddress == function)
            {
                Array.Copy(_probes, i + 1, _probes, i, _probeCount - i - 1);
                _probeCount--;
                return;
            }
        }
    }

    /// <summary>An open map call on this CPU (a map probe with a size) covering <paramref name="iova"/>: an unmap inside it
    /// is the error path of a map that failed half way.</summary>
    public bool TryFindOpenMap(ulong iova, long nowNs, out ProbeContext context)
    {
        for (var i = _probeCount - 1; i >= 0; i--)
        {
            ref var p = ref _probes[i];
            if (p.IsMap && !p.Completed && p.Size != 0 && nowNs - p.TimeNs <= ProbeContextLifetimeNs && p.Covers(iova))
            {
                context = p;
                return true;
            }
        }

        context = default;
        return false;
    }

    /// <summary>An iommu:map is emitted when a map call succeeds: the map calls of exactly that range are complete.
    /// They stay on the stack (their return probe pops them; removing them here would let that return probe
    /// pop an interrupted outer call of the same function instead).</summary>
    public void CompleteMaps(ulong iova, ulong size)
    {
        for (var i = _probeCount - 1; i >= 0; i--)
        {
            if (_probes[i].IsMap && _probes[i].Iova == iova && _probes[i].Size == size)
            {
                _probes[i].Completed = true;
            }
        }
    }

    /// <summary>The innermost open call on this CPU whose iova range holds <paramref name="iova"/>.</summary>
    public bool TryFindProbe(ulong iova, long nowNs, out ulong domain)
    {
        for (var i = _probeCount - 1; i >= 0; i--)
        {
            ref var p = ref _probes[i];
            if (nowNs - p.TimeNs > ProbeContextLifetimeNs)
            {
                continue;
            }

            if (p.Covers(iova))
            {
                domain = p.Domain;
                return true;
            }
        }

        domain = 0;
        return false;
    }

    public void RememberRecent(in RecentIommuEvent e)
    {
        _recent[_recentNext] = e;
        _recentNext = (_recentNext + 1) % RecentCount;
    }

    /// <summary>Most recent attributed map (or unmap) of this task at exactly <paramref name="iova"/>.</summary>
    public bool TryFindRecent(int pid, ulong iova, bool isMap, long nowNs, long windowNs, out int domain)
    {
        for (var k = 1; k <= RecentCount; k++)
        {
            ref var r = ref _recent[(_recentNext - k + RecentCount) % RecentCount];
            if (r.TimeNs != 0 && r.Pid == pid && r.Iova == iova && r.IsMap == isMap && nowNs - r.TimeNs <= windowNs)
            {
                domain = r.Domain;
                return true;
            }
        }

        domain = -1;
        return false;
    }

    /// <summary>An order-0 mm_page_free: remember it so a following mm_page_free_batched of the same pfn folds into it.</summary>
    public void RememberFree(ulong pfn)
    {
        if (_freedPfns.Add(pfn))
        {
            _freedOrder.Enqueue(pfn);
            if (_freedOrder.Count > MaxRememberedFrees)
            {
                _freedPfns.Remove(_freedOrder.Dequeue());
            }
        }
    }

    /// <summary>True (and forgets it) when <paramref name="pfn"/> was freed by an mm_page_free on this CPU not yet folded.</summary>
    public bool TakeFree(ulong pfn) => _freedPfns.Remove(pfn);

    /// <summary>An allocation hands the page out again: a later batched event cannot belong to the earlier free.</summary>
    public void ForgetFree(ulong pfn) => _freedPfns.Remove(pfn);
}
