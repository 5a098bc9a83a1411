using IommuSan.Trace.Formats;
using IommuSan.Trace.Records;

namespace IommuSan.Trace.Events;

/// <summary>
/// Decodes the events <c>check</c> needs into <see cref="CheckEvent"/>s, each through its own
/// format (field indices looked up once per format, never hard-coded offsets).
/// Tracepoints are recognised by system and name; kprobes and kretprobes by their format's fields
/// (<c>domain</c>, <c>iova</c>, a device string, <c>__probe_func</c>), whatever group or name the
/// user gave them, because trace-cmd report prints only raw addresses for their location.
/// </summary>
internal sealed class CheckEventDecoder
{
    private readonly Dictionary<EventFormat, Binding> _bindings = new(ReferenceEqualityComparer.Instance);
    private readonly DeviceNameTable _names = new();
    private EventFormat? _lastFormat;
    private Binding? _lastBinding;

    /// <summary>What a format decodes to, or <see cref="CheckEventKind.None"/> when the check does not use it.</summary>
    public static CheckEventKind Classify(EventFormat format) => Bind(format).Kind;

    /// <summary>The (system, name) pairs among <paramref name="formats"/> the check uses, for an <see cref="EventFilter"/>.</summary>
    public static EventFilter CreateFilter(IEnumerable<EventFormat> formats, bool includeSlabEvents = false)
    {
        var wanted = new List<(string, string)>();
        foreach (var f in formats)
        {
            var kind = Classify(f);
            if (kind != CheckEventKind.None && (includeSlabEvents || kind is not (CheckEventKind.Kmalloc or CheckEventKind.Kfree)))
            {
                wanted.Add((f.System, f.Name));
            }
        }

        // Probes are recognised by their fields, so one synthesised from a text line later is judged the same way.
        return new EventFilter(wanted, probes: f => Classify(f) != CheckEventKind.None);
    }

    /// <summary>Decodes <paramref name="e"/>; false when the check does not use the event.</summary>
    public bool TryDecode(in TraceEvent e, out CheckEvent decoded)
    {
        var format = e.Format;
        Binding b;
        if (ReferenceEquals(format, _lastFormat))
        {
            b = _lastBinding!;
        }
        else
        {
            if (!_bindings.TryGetValue(format, out var found))
            {
                found = Bind(format);
                _bindings[format] = found;
            }

            b = found;
            _lastFormat = format;
            _lastBinding = b;
        }

        if (b.Kind == CheckEventKind.None)
        {
            decoded = default;
            return false;
        }

        decoded = new CheckEvent
        {
            Kind = b.Kind,
            TimeNs = e.TimeNs,
            Cpu = e.Cpu,
            Pid = e.Pid,
            Comm = e.Comm,
            Name = format.Name,
        };

        switch (b.Kind)
        {
            case CheckEventKind.IommuMap:
                decoded = decoded with { Iova = U(e, b.A), Paddr = U(e, b.B), Size = U(e, b.C) };
                break;
            case CheckEventKind.IommuUnmap:
                decoded = decoded with { Iova = U(e, b.A), Size = U(e, b.B), UnmappedSize = U(e, b.C) };
                break;
            case CheckEventKind.IommuAttachDevice:
                decoded = decoded with { Device = Str(e, b.A) };
                break;
            case CheckEventKind.IommuAddDeviceToGroup:
                decoded = decoded with { Flags = (long)U(e, b.A), Device = Str(e, b.B) };
                break;
            case CheckEventKind.IommuPageFault:
                decoded = decoded with { Device = Str(e, b.A), Iova = U(e, b.B), Flags = (long)U(e, b.C) };
                break;
            case CheckEventKind.PageAlloc:
                decoded = decoded with { Pfn = Pfn(e, b.A), Order = (int)U(e, b.B), GfpFlags = U(e, b.C) };
                break;
            case CheckEventKind.PageFree:
                decoded = decoded with { Pfn = Pfn(e, b.A), Order = (int)U(e, b.B) };
                break;
            case CheckEventKind.PageFreeBatched:
                decoded = decoded with { Pfn = Pfn(e, b.A) };
                break;
            case CheckEventKind.Kmalloc:
            case CheckEventKind.Kfree:
                decoded = decoded with { Paddr = U(e, b.A), Size = U(e, b.B) };
                break;
            case CheckEventKind.DmaMap:
            {
                var dma = U(e, b.B);
                var size = U(e, b.C);
                decoded = decoded with { Device = Str(e, b.D), PhysAddr = U(e, b.A), DmaAddr = dma, Size = size, DmaEnd = dma + size };
                break;
            }

            case CheckEventKind.DmaUnmap:
            {
                var dma = U(e, b.A);
                var size = U(e, b.B);
                decoded = decoded with { Device = Str(e, b.D), DmaAddr = dma, Size = size, DmaEnd = dma + size };
                break;
            }

            case CheckEventKind.DmaMapSg:
                decoded = DecodeMapSg(e, b, decoded);
                break;
            case CheckEventKind.DmaUnmapSg:
            {
                var n = ArrayLength(e, b.A);
                decoded = decoded with
                {
                    Device = Str(e, b.D),
                    SgEntries = n,
                    PhysAddr = n > 0 ? Element(e, b.A, 0) : 0,
                };
                break;
            }

            case CheckEventKind.ProbeDomainCall:
                decoded = decoded with
                {
                    ProbeAddress = U(e, b.D),
                    Domain = U(e, b.A),
                    Iova = U(e, b.B),
                    Size = b.C >= 0 ? U(e, b.C) : 0,
                    Paddr = b.E >= 0 ? U(e, b.E) : 0,
                    Flags = b.E >= 0 ? 1 : 0,
                };
                break;
            case CheckEventKind.ProbeReturn:
                decoded = decoded with { ProbeAddress = U(e, b.D) };
                break;
            case CheckEventKind.ProbeAttachDevice:
                decoded = decoded with { ProbeAddress = U(e, b.D), Domain = U(e, b.A), Device = Str(e, b.B) };
                break;
            case CheckEventKind.ProbeDomainFree:
                decoded = decoded with { ProbeAddress = U(e, b.D), Domain = U(e, b.A) };
                break;
            default:
                break;
        }

        return true;
    }

    private CheckEvent DecodeMapSg(in TraceEvent e, Binding b, CheckEvent decoded)
    {
        // dma_addrs[i] with lengths[i]; both arrays may be capped at 128 entries (truncated flag).
        var n = ArrayLength(e, b.A);
        var nLengths = b.B >= 0 ? ArrayLength(e, b.B) : 0;
        ulong low = ulong.MaxValue, high = 0;
        for (var i = 0; i < n; i++)
        {
            var addr = Element(e, b.A, i);
            var len = i < nLengths ? Element(e, b.B, i) : 0;
            low = Math.Min(low, addr);
            var end = addr + len < addr ? ulong.MaxValue : addr + len;
            high = Math.Max(high, end);
        }

        var nPhys = b.C >= 0 ? ArrayLength(e, b.C) : 0;
        return decoded with
        {
            Device = Str(e, b.D),
            SgEntries = n,
            DmaAddr = n > 0 ? low : 0,
            DmaEnd = n > 0 ? high : 0,
            PhysAddr = nPhys > 0 ? Element(e, b.C, 0) : 0,
            Truncated = b.E >= 0 && U(e, b.E) != 0,
        };
    }

    private static ulong U(in TraceEvent e, int index) => index >= 0 ? e.GetUInt64(index) : 0;

    // A failed allocation records pfn -1; the field is unsigned long, so keep it as all ones whatever its size.
    private static ulong Pfn(in TraceEvent e, int index)
    {
        var value = U(e, index);
        var size = e.Format.Fields[index].Size;
        return size < 8 && value == (1UL << (size * 8)) - 1 ? ulong.MaxValue : value;
    }

    private string? Str(in TraceEvent e, int index) =>
        index >= 0 && e.TryGetFieldBytes(index, out var bytes) ? _names.Intern(bytes) : null;

    private static int ArrayLength(in TraceEvent e, int index) => index >= 0 ? e.GetArrayLength(index) : 0;

    private static ulong Element(in TraceEvent e, int index, int i)
    {
        if (!e.TryGetFieldBytes(index, out var bytes))
        {
            return 0;
        }

        var f = e.Format.Fields[index];
        var size = f.ElementSize;
        return (i + 1) * size <= bytes.Length
            ? TraceEvent.ReadInteger(bytes.Slice(i * size, size), size, f.IsSigned, e.Format.IsBigEndian)
            : 0;
    }

    private static Binding Bind(EventFormat f)
    {
        if (f.IsProbe)
        {
            return BindProbe(f);
        }

        int I(string name) => f.IndexOf(name);
        bool Has(params string[] names) => names.All(n => f.IndexOf(n) >= 0);

        switch (f.System, f.Name)
        {
            case ("iommu", "map") when Has("iova", "paddr", "size"):
                return new Binding(CheckEventKind.IommuMap, I("iova"), I("paddr"), I("size"));
            case ("iommu", "unmap") when Has("iova", "size", "unmapped_size"):
                return new Binding(CheckEventKind.IommuUnmap, I("iova"), I("size"), I("unmapped_size"));
            case ("iommu", "attach_device_to_domain") when Has("device"):
                return new Binding(CheckEventKind.IommuAttachDevice, I("device"));
            case ("iommu", "add_device_to_group") when Has("device"):
                return new Binding(CheckEventKind.IommuAddDeviceToGroup, I("gid"), I("device"));
            case ("iommu", "io_page_fault") when Has("device", "iova"):
                return new Binding(CheckEventKind.IommuPageFault, I("device"), I("iova"), I("flags"));
            case ("kmem", "mm_page_alloc") when Has("pfn", "order"):
                return new Binding(CheckEventKind.PageAlloc, I("pfn"), I("order"), I("gfp_flags"));
            case ("kmem", "mm_page_free") when Has("pfn", "order"):
                return new Binding(CheckEventKind.PageFree, I("pfn"), I("order"));
            case ("kmem", "mm_page_free_batched") when Has("pfn"):
                return new Binding(CheckEventKind.PageFreeBatched, I("pfn"));
            case ("kmem", "kmalloc") when Has("ptr"):
                return new Binding(CheckEventKind.Kmalloc, I("ptr"), I("bytes_alloc"));
            case ("kmem", "kfree") when Has("ptr"):
                return new Binding(CheckEventKind.Kfree, I("ptr"));
            case ("dma", "dma_map_page" or "dma_map_phys" or "dma_map_resource") when Has("device", "dma_addr", "size"):
                return new Binding(CheckEventKind.DmaMap, I("phys_addr"), I("dma_addr"), I("size"), I("device"));
            case ("dma", "dma_unmap_page" or "dma_unmap_phys" or "dma_unmap_resource") when Has("device", "size"):
            {
                var addr = I("addr") >= 0 ? I("addr") : I("dma_addr");
                return addr < 0 ? Binding.None : new Binding(CheckEventKind.DmaUnmap, addr, I("size"), -1, I("device"));
            }

            case ("dma", "dma_map_sg") when Has("device", "dma_addrs"):
                return new Binding(CheckEventKind.DmaMapSg, I("dma_addrs"), I("lengths"), I("phys_addrs"), I("device"), I("truncated"));
            case ("dma", "dma_unmap_sg") when Has("device"):
            {
                var addrs = I("addrs") >= 0 ? I("addrs") : I("phys_addrs");
                return new Binding(CheckEventKind.DmaUnmapSg, addrs, -1, -1, I("device"));
            }

            default:
                return Binding.None;
        }
    }

    // Kprobes are user-defined: recognise what they record, not what they are called.
    private static Binding BindProbe(EventFormat f)
    {
        var domain = f.IndexOf("domain");
        var iova = f.IndexOf("iova");
        var device = StringField(f, "dev", "device");
        if (f.IsReturnProbe)
        {
            return new Binding(CheckEventKind.ProbeReturn, D: f.IndexOf("__probe_func"));
        }

        var ip = f.IndexOf("__probe_ip");
        if (domain >= 0 && iova >= 0)
        {
            return new Binding(CheckEventKind.ProbeDomainCall, domain, iova, f.IndexOf("size"), ip, f.IndexOf("paddr"));
        }

        if (domain >= 0 && device >= 0)
        {
            return new Binding(CheckEventKind.ProbeAttachDevice, domain, device, -1, ip);
        }

        if (domain >= 0 && f.Name.Contains("free", StringComparison.OrdinalIgnoreCase))
        {
            return new Binding(CheckEventKind.ProbeDomainFree, domain, -1, -1, ip);
        }

        return Binding.None;
    }

    private static int StringField(EventFormat f, params string[] names)
    {
        foreach (var n in names)
        {
            var field = f.Find(n);
            if (field is not null && field.IsString)
            {
                return f.IndexOf(n);
            }
        }

        return -1;
    }

    /// <summary>A format's role and the indices of the fields that role reads (-1 when absent).</summary>
    private sealed record Binding(CheckEventKind Kind, int A = -1, int B = -1, int C = -1, int D = -1, int E = -1)
    {
        public static readonly Binding None = new(CheckEventKind.None);
    }
}
