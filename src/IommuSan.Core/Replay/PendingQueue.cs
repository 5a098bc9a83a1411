using IommuSan.Findings;
using IommuSan.Trace.Events;

namespace IommuSan.Replay;

/// <summary>An event held back until its domain is known (or its wait is over), so the model sees
/// every event in trace order with its attribution final.</summary>
internal struct PendingItem
{
    public CheckEvent Event;

    /// <summary>Domain id, or -1 while unresolved.</summary>
    public int Domain;

    /// <summary>Device named by a dma event (resolved to a domain when the item is applied).</summary>
    public string? Device;

    public AttributionSource Source;

    /// <summary>The unmap runs inside an open map call (kprobes): the map's error path. <see cref="MapErrorPaddr"/>
    /// is where the failed map had put the unmapped iova.</summary>
    public bool MapErrorPath;

    public ulong MapErrorPaddr;

    public readonly bool NeedsAttribution =>
        Domain < 0 && Device is null && Event.Kind is CheckEventKind.IommuMap or CheckEventKind.IommuUnmap;
}

/// <summary>A growable ring of <see cref="PendingItem"/>s addressed by a monotonically increasing sequence number.</summary>
internal sealed class PendingQueue
{
    private PendingItem[] _items = new PendingItem[1024];
    private long _head;
    private long _tail;

    public int Count => (int)(_tail - _head);

    public long HeadSeq => _head;

    public long Enqueue(in PendingItem item)
    {
        if (Count == _items.Length)
        {
            Grow();
        }

        _items[_tail & (_items.Length - 1)] = item;
        return _tail++;
    }

    public bool Contains(long seq) => seq >= _head && seq < _tail;

    public ref PendingItem this[long seq] => ref _items[seq & (_items.Length - 1)];

    public ref PendingItem Head => ref _items[_head & (_items.Length - 1)];

    public void Dequeue()
    {
        _items[_head & (_items.Length - 1)] = default;
        _head++;
    }

    private void Grow()
    {
        var bigger = new PendingItem[_items.Length * 2];
        for (var s = _head; s < _tail; s++)
        {
            bigger[s & (bigger.Length - 1)] = _items[s & (_items.Length - 1)];
        }

        _items = bigger;
    }
}
