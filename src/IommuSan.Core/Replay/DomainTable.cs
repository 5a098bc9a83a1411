using IommuSan.Findings;

namespace IommuSan.Replay;

/// <summary>
/// One IOMMU domain as the replay knows it: identified by the pointer a kprobe recorded (a new
/// generation after <c>iommu_domain_free</c>, since the kernel reuses freed pointers), by the
/// device dma events name, or as an "unattributed" domain holding maps nothing could place.
/// </summary>
internal sealed class DomainInfo
{
    public DomainInfo(int id, int modelHandle, ulong? pointer, int generation, bool unattributed, int unattributedNumber)
    {
        Id = id;
        ModelHandle = modelHandle;
        Pointer = pointer;
        Generation = generation;
        Unattributed = unattributed;
        UnattributedNumber = unattributedNumber;
    }

    public int Id { get; }

    /// <summary>The model's handle for this domain's page table.</summary>
    public int ModelHandle { get; }

    public ulong? Pointer { get; }

    /// <summary>How many earlier domains had the same pointer (0 for the first).</summary>
    public int Generation { get; }

    public bool Unattributed { get; }

    private int UnattributedNumber { get; }

    /// <summary>Devices seen using this domain, in the order first seen.</summary>
    public List<string> Devices { get; } = [];

    /// <summary>Live mapping records by start iova (slots in the <see cref="MappingStore"/>).</summary>
    public LiveMappingIndex LiveByIova { get; } = new();

    public string Label => Pointer is { } p
        ? (Generation == 0 ? $"0x{p:x}" : $"0x{p:x}#{Generation + 1}")
        : Unattributed ? $"unattributed-{UnattributedNumber}" : $"device:{DeviceText}";

    public string? DeviceText => Devices.Count == 0 ? null : string.Join(",", Devices);
}

/// <summary>Every domain of a replay, with lookups by kprobe pointer and by device.</summary>
internal sealed class DomainTable
{
    private readonly ISanitizerDriver _model;
    private readonly Dictionary<ulong, DomainInfo> _byPointer = [];
    private readonly Dictionary<ulong, int> _pointerGenerations = [];
    private readonly Dictionary<string, DomainInfo> _byDevice = new(StringComparer.Ordinal);
    private readonly List<DomainInfo> _unattributed = [];

    public DomainTable(ISanitizerDriver model)
    {
        _model = model;
    }

    public List<DomainInfo> All { get; } = [];

    public IReadOnlyList<DomainInfo> Unattributed => _unattributed;

    public DomainInfo this[int id] => All[id];

    /// <summary>The live domain with this pointer (created on first sight).</summary>
    public DomainInfo ForPointer(ulong pointer)
    {
        if (_byPointer.TryGetValue(pointer, out var d))
        {
            return d;
        }

        _pointerGenerations.TryGetValue(pointer, out var generation);
        d = Create(pointer, generation, unattributed: false);
        _byPointer[pointer] = d;
        return d;
    }

    /// <summary><c>iommu_domain_free</c>: the next use of the pointer is a new domain.</summary>
    public void Free(ulong pointer)
    {
        if (_byPointer.Remove(pointer, out var d))
        {
            _pointerGenerations[pointer] = d.Generation + 1;
            foreach (var dev in d.Devices)
            {
                if (_byDevice.TryGetValue(dev, out var named) && ReferenceEquals(named, d))
                {
                    _byDevice.Remove(dev);
                }
            }
        }
    }

    /// <summary>The domain a device's DMA goes through: the (pointer) domain it was last seen with, else one keyed by the device.</summary>
    public DomainInfo ForDevice(string device)
    {
        if (_byDevice.TryGetValue(device, out var d))
        {
            return d;
        }

        d = Create(null, 0, unattributed: false);
        AddDevice(d, device);
        return d;
    }

    /// <summary>Records that <paramref name="device"/> uses <paramref name="domain"/> (from an attach kprobe or a dma event).</summary>
    public void AddDevice(DomainInfo domain, string device)
    {
        if (!domain.Devices.Contains(device))
        {
            domain.Devices.Add(device);
        }

        _byDevice[device] = domain;
    }

    /// <summary>A domain for maps with no evidence. An IOVA is live at most once per domain, so a map goes
    /// to the first unattributed domain where its IOVA is free, or to a new one.</summary>
    public DomainInfo UnattributedFor(ulong iova)
    {
        foreach (var d in _unattributed)
        {
            if (!d.LiveByIova.ContainsKey(iova))
            {
                return d;
            }
        }

        var created = Create(null, 0, unattributed: true);
        _unattributed.Add(created);
        return created;
    }

    private DomainInfo Create(ulong? pointer, int generation, bool unattributed)
    {
        var id = All.Count;
        var label = pointer is { } p ? $"0x{p:x}" : unattributed ? $"unattributed-{_unattributed.Count + 1}" : $"device-domain-{id}";
        var d = new DomainInfo(id, _model.CreateDomain(label), pointer, generation, unattributed, _unattributed.Count + 1);
        All.Add(d);
        return d;
    }
}

/// <summary>A live mapping as the replay tracks it (for attribution and for reports; the model does the counting).</summary>
internal struct MappingRecord
{
    public long Serial;
    public int Domain;
    public ulong Iova;
    public ulong Size;
    public ulong Paddr;
    public long TimeNs;
    public int Cpu;
    public int Pid;
    public string Comm;
    public AttributionSource Source;

    /// <summary>Index of the open ambiguity naming this mapping as a candidate, or -1.</summary>
    public int Ambiguity;

    public readonly ulong End => Iova + Size;
}

/// <summary>
/// Slots of live <see cref="MappingRecord"/>s, reused through a free list: no allocation per map. Also
/// indexes them by physical address, so the mappings covering a page that is freed while counted are
/// found in O(log n) rather than by a scan of every live mapping of every domain.
/// </summary>
internal sealed class MappingStore
{
    private MappingRecord[] _items = new MappingRecord[256];
    private readonly Stack<int> _free = new();
    private readonly SortedSet<(ulong Paddr, int Slot)> _byPaddr = [];
    private ulong _largestSize;
    private int _used;

    public int Add(in MappingRecord record)
    {
        int slot;
        if (_free.Count > 0)
        {
            slot = _free.Pop();
        }
        else
        {
            if (_used == _items.Length)
            {
                Array.Resize(ref _items, _items.Length * 2);
            }

            slot = _used++;
        }

        _items[slot] = record;
        _byPaddr.Add((record.Paddr, slot));
        _largestSize = Math.Max(_largestSize, record.Size);
        return slot;
    }

    /// <summary>Adds to <paramref name="slots"/> every live record whose [Paddr, Paddr + Size) overlaps [start, end).</summary>
    public void CollectCoveringPhys(ulong start, ulong end, List<int> slots)
    {
        if (_byPaddr.Count == 0 || end <= start)
        {
            return;
        }

        // A record overlapping the range starts below its end and at most the largest size below its start.
        var low = start > _largestSize ? start - _largestSize : 0;
        foreach (var (paddr, slot) in _byPaddr.GetViewBetween((low, int.MinValue), (end - 1, int.MaxValue)))
        {
            if (paddr + _items[slot].Size > start)
            {
                slots.Add(slot);
            }
        }
    }

    public ref MappingRecord this[int slot] => ref _items[slot];

    public void Remove(int slot)
    {
        _byPaddr.Remove((_items[slot].Paddr, slot));
        _items[slot] = default;
        _free.Push(slot);
    }
}

/// <summary>
/// One domain's live mapping records keyed by start iova, with an ordered index of the starts so
/// "which record covers this iova" and "which records overlap this range" cost O(log n) instead of a
/// scan of every live mapping (a busy NIC keeps thousands of receive buffers mapped). Records of one
/// domain never overlap: an IOVA is live at most once per domain.
/// </summary>
internal sealed class LiveMappingIndex
{
    private readonly Dictionary<ulong, int> _byStart = [];
    private readonly SortedSet<ulong> _starts = [];

    public int Count => _byStart.Count;

    public Dictionary<ulong, int>.ValueCollection Values => _byStart.Values;

    public int this[ulong iova]
    {
        set
        {
            _byStart[iova] = value;
            _starts.Add(iova);
        }
    }

    public bool TryGetValue(ulong iova, out int slot) => _byStart.TryGetValue(iova, out slot);

    public bool ContainsKey(ulong iova) => _byStart.ContainsKey(iova);

    public bool Remove(ulong iova)
    {
        _starts.Remove(iova);
        return _byStart.Remove(iova);
    }

    /// <summary>The record whose [Iova, End) contains <paramref name="iova"/>, if any.</summary>
    public bool TryFindCovering(ulong iova, MappingStore mappings, out int slot)
    {
        if (_byStart.TryGetValue(iova, out slot))
        {
            return true;
        }

        slot = -1;
        if (_starts.Count == 0 || _starts.Min > iova)
        {
            return false;
        }

        // The greatest start at or below iova is the only candidate (records do not overlap).
        var floor = _starts.GetViewBetween(_starts.Min, iova).Max;
        var candidate = _byStart[floor];
        if (iova < mappings[candidate].End)
        {
            slot = candidate;
            return true;
        }

        return false;
    }

    /// <summary>Adds to <paramref name="slots"/> every record overlapping [start, end).</summary>
    public void CollectOverlapping(ulong start, ulong end, MappingStore mappings, List<int> slots)
    {
        if (TryFindCovering(start, mappings, out var first))
        {
            slots.Add(first);
        }

        if (end - 1 <= start || _starts.Count == 0 || _starts.Max <= start)
        {
            return;
        }

        foreach (var s in _starts.GetViewBetween(start + 1, end - 1))
        {
            slots.Add(_byStart[s]);
        }
    }
}
