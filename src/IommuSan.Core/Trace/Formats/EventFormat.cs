using System.Collections.Frozen;
using System.Collections.Immutable;

namespace IommuSan.Trace.Formats;

/// <summary>
/// An event's format description, as the kernel prints it in tracefs and as trace.dat stores it:
/// its numeric id (the payload's <c>common_type</c>), system, name, fields and print format.
/// Everything IommuSan reads from a payload is located through one of these, never through
/// hard-coded offsets, so a kernel that lays an event out differently still decodes.
/// </summary>
internal sealed class EventFormat
{
    private readonly FrozenDictionary<string, int> _indexByName;

    public EventFormat(int id, string system, string name, ImmutableArray<FormatField> fields, string printFormat, bool isBigEndian = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(system);
        ArgumentException.ThrowIfNullOrEmpty(name);
        Id = id;
        System = system;
        Name = name;
        Fields = fields;
        PrintFormat = printFormat;
        IsBigEndian = isBigEndian;
        var index = new Dictionary<string, int>(fields.Length, StringComparer.Ordinal);
        for (var i = 0; i < fields.Length; i++)
        {
            index.TryAdd(fields[i].Name, i);
        }

        _indexByName = index.ToFrozenDictionary(StringComparer.Ordinal);
        PayloadSize = fields.IsEmpty ? 0 : fields.Max(f => f.Layout == FieldLayout.Trailing ? f.Offset : f.Offset + f.Size);
    }

    /// <summary>The event id, i.e. the value of <c>common_type</c> in its payloads. Kprobe ids differ between boots.</summary>
    public int Id { get; }

    /// <summary>The event system (<c>iommu</c>, <c>kmem</c>, <c>dma</c>, a kprobe group such as <c>kprobes</c>, <c>ftrace</c>).</summary>
    public string System { get; }

    /// <summary>The event name (<c>map</c>, <c>mm_page_free</c>, <c>__iommu_map</c>).</summary>
    public string Name { get; }

    /// <summary>Every field in declaration order, common fields first.</summary>
    public ImmutableArray<FormatField> Fields { get; }

    /// <summary>The <c>print fmt:</c> text (used to recognise kprobes and for diagnostics).</summary>
    public string PrintFormat { get; }

    /// <summary>Byte order of payloads described by this format (that of the file they came from).</summary>
    public bool IsBigEndian { get; }

    /// <summary>Size of the fixed part of the payload (end of the last fixed field).</summary>
    public int PayloadSize { get; }

    /// <summary>True for kprobe/kretprobe events: their format carries <c>__probe_ip</c> or <c>__probe_func</c>.</summary>
    public bool IsProbe => _indexByName.ContainsKey("__probe_ip") || _indexByName.ContainsKey("__probe_func");

    /// <summary>True for kretprobe events (<c>__probe_func</c> and <c>__probe_ret_ip</c>).</summary>
    public bool IsReturnProbe => _indexByName.ContainsKey("__probe_ret_ip");

    /// <summary>Index of the named field in <see cref="Fields"/>, or -1.</summary>
    public int IndexOf(string fieldName) => _indexByName.TryGetValue(fieldName, out var i) ? i : -1;

    /// <summary>The named field, or null.</summary>
    public FormatField? Find(string fieldName) => _indexByName.TryGetValue(fieldName, out var i) ? Fields[i] : null;

    public override string ToString() => $"{System}:{Name} (id {Id})";
}
