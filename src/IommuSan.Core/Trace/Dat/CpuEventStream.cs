using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Trace.Dat;

/// <summary>
/// The per-CPU tokenizer: walks one CPU's sub-buffers and yields (timestamp, payload slice) per data
/// event, nothing more; decoding happens after the merge. It applies the page header (timestamp,
/// commit length, missed-events flags) and the event headers (padding, time extend, absolute time
/// stamp, data) described in <see cref="TraceDatLayout"/>. Damage inside a page is counted as a
/// corrupt-page diagnostic and the rest of that page is skipped; lost events become data-loss diagnostics.
/// </summary>
internal sealed class CpuEventStream : IDisposable
{
    private readonly CpuPageSource _source;
    private readonly DiagnosticBag _diagnostics;
    private readonly bool _bigEndian;
    private readonly int _subBufferSize;
    private readonly int _pageHeaderSize;
    private readonly int _longSize;
    private byte[] _page = [];
    private int _pos;
    private int _end;
    private int _pageStart;
    private ulong _time;
    private ulong _lastEventTime;

    public CpuEventStream(CpuPageSource source, TraceDatMetadata meta)
    {
        _source = source;
        _diagnostics = meta.Diagnostics;
        _bigEndian = meta.BigEndian;
        _subBufferSize = meta.SubBufferSize;
        _pageHeaderSize = meta.PageHeaderSize;
        _longSize = meta.KernelLongSize;
    }

    public int Cpu => _source.Cpu;

    /// <summary>Timestamp of the current event (trace clock units).</summary>
    public ulong Timestamp { get; private set; }

    /// <summary>The buffer holding the current payload; valid until the next <see cref="MoveNext"/>.</summary>
    public byte[] Buffer => _page;

    public int PayloadOffset { get; private set; }

    public int PayloadLength { get; private set; }

    public long Consumed => _source.Consumed;

    /// <summary>Advances to the next data event; false when the CPU has no more.</summary>
    public bool MoveNext()
    {
        while (true)
        {
            if (_pos >= _end)
            {
                if (!LoadPage())
                {
                    return false;
                }

                continue;
            }

            var left = _end - _pos;
            if (left < TraceDatLayout.EventHeaderSize)
            {
                Corrupt($"an event header at page offset {_pos - _pageStart} is cut by the end of the page data");
                continue;
            }

            var header = Read32(_pos);
            uint typeLen, delta;
            if (_bigEndian)
            {
                typeLen = header >> TraceDatLayout.TimeDeltaBits;
                delta = header & TraceDatLayout.TimeDeltaMask;
            }
            else
            {
                typeLen = header & ((1u << TraceDatLayout.TypeLenBits) - 1);
                delta = header >> TraceDatLayout.TypeLenBits;
            }

            int data, length;
            switch (typeLen)
            {
                case TraceDatLayout.TypeLenPadding:
                    if (delta == 0)
                    {
                        // The rest of the page is padding.
                        _pos = _end;
                        continue;
                    }

                    // A discarded event: array[0] more bytes follow the header. Its delta still counts.
                    if (left < 8)
                    {
                        Corrupt($"a discarded event at page offset {_pos - _pageStart} is cut by the end of the page data");
                        continue;
                    }

                    _time += delta;
                    var skip = (long)Read32(_pos + 4);
                    _pos = skip > _end - _pos - TraceDatLayout.EventHeaderSize ? _end : _pos + TraceDatLayout.EventHeaderSize + (int)skip;
                    continue;

                case TraceDatLayout.TypeLenTimeExtend:
                case TraceDatLayout.TypeLenTimeStamp:
                    if (left < 8)
                    {
                        Corrupt($"a time record at page offset {_pos - _pageStart} is cut by the end of the page data");
                        continue;
                    }

                    var value = ((ulong)Read32(_pos + 4) << TraceDatLayout.TimeDeltaBits) + delta;
                    _time = typeLen == TraceDatLayout.TypeLenTimeExtend
                        ? _time + value
                        : value | (_time & TraceDatLayout.AbsoluteTimeStampMsbMask);
                    _pos += 8;
                    continue;

                case TraceDatLayout.TypeLenLengthInArray:
                    if (left < 8)
                    {
                        Corrupt($"an event length at page offset {_pos - _pageStart} is cut by the end of the page data");
                        continue;
                    }

                    // array[0] counts its own 4 bytes; the payload is padded to 4 bytes.
                    var raw = Read32(_pos + 4);
                    data = _pos + 8;
                    if (raw < 4 || ((raw - 4 + 3) & ~3u) > (uint)(_end - data))
                    {
                        Corrupt($"event length {raw} at page offset {_pos - _pageStart} does not fit the {_end - data} bytes left on the page");
                        continue;
                    }

                    length = (int)((raw - 4 + 3) & ~3u);
                    break;

                default:
                    data = _pos + TraceDatLayout.EventHeaderSize;
                    length = (int)typeLen * 4;
                    if (length > _end - data)
                    {
                        Corrupt($"a {length}-byte event at page offset {_pos - _pageStart} runs past the page data");
                        continue;
                    }

                    break;
            }

            _time += delta;
            _pos = data + length;
            PayloadOffset = data;
            PayloadLength = length;
            Timestamp = _time;
            if (_time < _lastEventTime)
            {
                Backwards();
            }

            _lastEventTime = _time;
            return true;
        }
    }

    private bool LoadPage()
    {
        while (_source.TryNextPage(out var buffer, out var start, out var length))
        {
            _page = buffer;
            _pageStart = start;
            _pos = _end = start;
            if (length < _subBufferSize)
            {
                Report(DiagnosticCatalog.CorruptPage, 1, $"the CPU's data ends with a partial sub-buffer of {length} bytes (sub-buffers are {_subBufferSize})");
                continue;
            }

            var pageTime = Read64(start + TraceDatLayout.PageTimestampOffset);
            var commit = _longSize == 8 ? Read64(start + TraceDatLayout.PageCommitOffset) : Read32(start + TraceDatLayout.PageCommitOffset);
            var dataLength = (int)(commit & TraceDatLayout.CommitLengthMask);
            var room = _subBufferSize - _pageHeaderSize;
            if (dataLength > room)
            {
                Report(DiagnosticCatalog.CorruptPage, 1, $"page data length {dataLength} exceeds the {room} bytes a sub-buffer holds");
                continue;
            }

            if ((commit & TraceDatLayout.CommitMissedEvents) != 0)
            {
                ReportLost(commit, start + _pageHeaderSize + dataLength, start + _subBufferSize, pageTime);
            }

            _time = pageTime;
            _pos = start + _pageHeaderSize;
            _end = _pos + dataLength;
            return true;
        }

        _pos = _end = 0;
        return false;
    }

    private void ReportLost(ulong commit, int countAt, int pageEnd, ulong pageTime)
    {
        if ((commit & TraceDatLayout.CommitMissedStored) != 0 && pageEnd - countAt >= _longSize)
        {
            var lost = _longSize == 8 ? Read64(countAt) : Read32(countAt);
            _diagnostics.Add(DiagnosticCatalog.EventsLost, Cpu, (long)Math.Min(lost, long.MaxValue), (long)pageTime, _source.DescribeCurrentPage(),
                $"cpu {Cpu}: {lost} events lost before this page");
        }
        else
        {
            _diagnostics.Add(DiagnosticCatalog.EventsLostUnknownCount, Cpu, 1, (long)pageTime, _source.DescribeCurrentPage(),
                $"cpu {Cpu}: events lost before this page (count not recorded)");
        }
    }

    private void Corrupt(string detail)
    {
        Report(DiagnosticCatalog.CorruptPage, 1, detail);
        _pos = _end;
    }

    private void Backwards()
    {
        _diagnostics.Add(DiagnosticCatalog.TimeWentBackwards, Cpu, 1, (long)_time, _source.DescribeCurrentPage(),
            $"cpu {Cpu}: time went back from {_lastEventTime} to {_time}");
    }

    private void Report(DiagnosticKind kind, long count, string detail) =>
        _diagnostics.Add(kind, Cpu, count, (long)_time, _source.DescribeCurrentPage(), $"cpu {Cpu}: {detail}");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Read32(int at) => _bigEndian
        ? BinaryPrimitives.ReadUInt32BigEndian(_page.AsSpan(at, 4))
        : BinaryPrimitives.ReadUInt32LittleEndian(_page.AsSpan(at, 4));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Read64(int at) => _bigEndian
        ? BinaryPrimitives.ReadUInt64BigEndian(_page.AsSpan(at, 8))
        : BinaryPrimitives.ReadUInt64LittleEndian(_page.AsSpan(at, 8));

    public void Dispose() => _source.Dispose();
}
