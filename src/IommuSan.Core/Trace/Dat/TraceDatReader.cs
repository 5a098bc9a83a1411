using System.Buffers.Binary;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Formats;
using IommuSan.Trace.Records;

namespace IommuSan.Trace.Dat;

/// <summary>
/// Reads trace-cmd's binary trace.dat (versions 6 and 7; compression none, zlib, zstd; either byte
/// order; 4- or 8-byte longs) as an <see cref="ITraceSource"/>.
/// <para>
/// Layers: <see cref="TraceDatMetadata"/> walks the file's header (formats, cmdlines, clock, where
/// each CPU's data is); per CPU a <see cref="CpuPageSource"/> hands out sub-buffers (read in blocks or
/// decompressed chunk by chunk) to a <see cref="CpuEventStream"/> tokenizer yielding (timestamp,
/// payload slice); the streams are merged with a heap by (timestamp, cpu), ties to the lower CPU as
/// trace-cmd does; only then is each payload matched to its format, filtered and given its pid and comm.
/// Memory is bounded by the number of CPUs times one block or chunk, whatever the trace's size.
/// </para>
/// </summary>
internal sealed class TraceDatReader : ITraceSource
{
    private const string UnknownComm = "<...>";
    private const string IdleComm = "<idle>";

    // Raw (uncompressed) data is read in blocks of whole sub-buffers: large enough to amortise the
    // seek between CPUs, small enough that many CPUs stay cheap.
    private const int RawReadBudget = 4 << 20;
    private const int MaxRawBlock = 256 << 10;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly TraceDatMetadata _meta;
    private readonly long _dataStart;
    private long _position;
    private bool _started;
    private bool _disposed;

    private TraceDatReader(Stream stream, bool leaveOpen, TraceDatMetadata meta)
    {
        _stream = stream;
        _leaveOpen = leaveOpen;
        _meta = meta;
        // Progress counts the header up to the first CPU's data, then the ring-buffer bytes consumed.
        _dataStart = meta.MetadataEnd;
        foreach (var cpu in meta.Cpus)
        {
            _dataStart = Math.Min(_dataStart, cpu.Offset);
        }

        _dataStart = Math.Min(_dataStart, meta.File.Length);
        _position = _dataStart;
    }

    /// <summary>Opens a trace.dat from a seekable stream. Throws <see cref="TraceDataException"/> when the file is unusable.</summary>
    /// <param name="displayPath">The path as the user gave it (for messages).</param>
    /// <param name="stream">Readable, seekable stream positioned anywhere (the reader seeks).</param>
    /// <param name="leaveOpen">Whether disposing the reader leaves the stream open.</param>
    public static TraceDatReader Open(string displayPath, Stream stream, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(displayPath);
        ArgumentNullException.ThrowIfNull(stream);
        try
        {
            var file = new DatFile(displayPath, stream);
            var meta = TraceDatMetadata.Read(file, new DiagnosticBag());
            return new TraceDatReader(stream, leaveOpen, meta);
        }
        catch
        {
            if (!leaveOpen)
            {
                stream.Dispose();
            }

            throw;
        }
    }

    public string Path => _meta.File.Path;

    public TraceKind Kind => _meta.Version == 6 ? TraceKind.TraceDatV6 : TraceKind.TraceDatV7;

    public int? CpuPageShift => System.Numerics.BitOperations.Log2((uint)_meta.PageSize);

    /// <summary>File offset of the header's page size, so a consumer rejecting its value can say where it is.</summary>
    public long PageSizeFieldOffset => _meta.PageSizeAt;

    public int? CpuCount
    {
        get
        {
            if (_meta.CpuCount is { } n)
            {
                return n;
            }

            var max = -1;
            foreach (var cpu in _meta.Cpus)
            {
                max = Math.Max(max, cpu.Cpu);
            }

            return max < 0 ? null : max + 1;
        }
    }

    public IReadOnlyCollection<EventFormat> Formats => _meta.Formats;

    public DiagnosticBag Diagnostics => _meta.Diagnostics;

    public long Length => _meta.File.Length;

    public long Position => Volatile.Read(ref _position);

    /// <summary>The trace clock the file names ("local", "x86-tsc", ...), if any.</summary>
    public string? Clock => _meta.Clock;

    /// <summary>"none", "zlib" or "zstd".</summary>
    public string Compression => _meta.Compression;

    /// <summary>Bytes per ring-buffer sub-buffer.</summary>
    public int SubBufferSize => _meta.SubBufferSize;

    /// <summary>True for a big-endian file.</summary>
    public bool IsBigEndian => _meta.BigEndian;

    /// <summary>The kernel's sizeof(long) (header_page's commit field).</summary>
    public int KernelLongSize => _meta.KernelLongSize;

    public IEnumerable<TraceEvent> ReadEvents(EventFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_started)
        {
            throw new InvalidOperationException("ReadEvents reads a trace.dat once; open the file again to read it again");
        }

        _started = true;
        return Merge(BuildSlots(filter), cancellationToken);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _meta.Decompressor?.Dispose();
        if (!_leaveOpen)
        {
            _stream.Dispose();
        }
    }

    private IEnumerable<TraceEvent> Merge(FormatSlot?[] slots, CancellationToken cancellationToken)
    {
        var streams = new List<CpuEventStream>(_meta.Cpus.Count);
        var queue = new PriorityQueue<CpuEventStream, MergeKey>(_meta.Cpus.Count, MergeKeyComparer.Instance);
        var comms = new CommCache(_meta.Comms);
        try
        {
            var block = Math.Clamp(RawReadBudget / Math.Max(1, _meta.Cpus.Count), _meta.SubBufferSize, Math.Max(MaxRawBlock, _meta.SubBufferSize));
            foreach (var region in _meta.Cpus)
            {
                var stream = new CpuEventStream(CpuPageSource.Create(_meta, region, block), _meta);
                streams.Add(stream);
                if (stream.MoveNext())
                {
                    queue.Enqueue(stream, new MergeKey(stream.Timestamp, stream.Cpu));
                }
            }

            if (!queue.TryDequeue(out var current, out _))
            {
                yield break;
            }

            var count = 0;
            while (true)
            {
                if ((++count & 0xfff) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    UpdatePosition(streams);
                }

                if (TryDecode(current, slots, comms, out var ev))
                {
                    yield return ev;
                }

                if (current.MoveNext())
                {
                    // Keeps reading the same CPU while it stays the earliest (no heap work then).
                    if (queue.Count > 0)
                    {
                        current = queue.EnqueueDequeue(current, new MergeKey(current.Timestamp, current.Cpu));
                    }
                }
                else if (!queue.TryDequeue(out current, out _))
                {
                    break;
                }
            }

            Volatile.Write(ref _position, Length);
        }
        finally
        {
            foreach (var stream in streams)
            {
                stream.Dispose();
            }
        }
    }

    private bool TryDecode(CpuEventStream s, FormatSlot?[] slots, CommCache comms, out TraceEvent ev)
    {
        ev = default;
        var buffer = s.Buffer;
        var offset = s.PayloadOffset;
        var length = s.PayloadLength;
        if (length < 2)
        {
            if (!Diagnostics.TryCountRepeat(DiagnosticCatalog.TruncatedPayload, s.Cpu))
            {
                Diagnostics.Add(DiagnosticCatalog.TruncatedPayload, s.Cpu, 1, (long)s.Timestamp, null, $"cpu {s.Cpu}: a {length}-byte event has no common_type");
            }
            return false;
        }

        // common_type is the first field of every event (struct trace_entry: u16 type, u8 flags, u8 preempt_count, int pid).
        var id = _meta.BigEndian
            ? BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(offset, 2))
            : BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(offset, 2));
        var slot = id < slots.Length ? slots[id] : null;
        if (slot is null)
        {
            if (!Diagnostics.TryCountRepeat(DiagnosticCatalog.UnknownEventId, s.Cpu))
            {
                Diagnostics.Add(DiagnosticCatalog.UnknownEventId, s.Cpu, 1, (long)s.Timestamp, null, $"cpu {s.Cpu}: event id {id} has no format in the file");
            }
            return false;
        }

        if (!slot.Selected)
        {
            return false;
        }

        if (length < slot.Format.PayloadSize)
        {
            if (!Diagnostics.TryCountRepeat(DiagnosticCatalog.TruncatedPayload, s.Cpu))
            {
                Diagnostics.Add(DiagnosticCatalog.TruncatedPayload, s.Cpu, 1, (long)s.Timestamp, null,
                    $"cpu {s.Cpu}: {slot.Format.System}:{slot.Format.Name} payload of {length} bytes, its format needs {slot.Format.PayloadSize}");
            }
            return false;
        }

        var pid = 0;
        if (slot.PidOffset >= 0)
        {
            var p = buffer.AsSpan(offset + slot.PidOffset, 4);
            pid = _meta.BigEndian ? BinaryPrimitives.ReadInt32BigEndian(p) : BinaryPrimitives.ReadInt32LittleEndian(p);
        }

        ev = new TraceEvent((long)s.Timestamp, s.Cpu, pid, comms.Get(pid), slot.Format, new ReadOnlyMemory<byte>(buffer, offset, length));
        return true;
    }

    private FormatSlot?[] BuildSlots(EventFilter? filter)
    {
        // common_type is a u16: ids above 65535 can never match an event.
        var maxId = -1;
        foreach (var f in _meta.Formats)
        {
            if (f.Id is >= 0 and <= ushort.MaxValue)
            {
                maxId = Math.Max(maxId, f.Id);
            }
        }

        var slots = new FormatSlot?[maxId + 1];
        foreach (var f in _meta.Formats)
        {
            if (f.Id is < 0 or > ushort.MaxValue || slots[f.Id] is not null)
            {
                continue;
            }

            var pid = f.Find("common_pid");
            var pidOffset = pid is { Layout: FieldLayout.Scalar, Size: 4 } && pid.Offset + 4 <= f.PayloadSize ? pid.Offset : -1;
            slots[f.Id] = new FormatSlot(f, filter?.Matches(f) ?? true, pidOffset);
        }

        return slots;
    }

    private void UpdatePosition(List<CpuEventStream> streams)
    {
        var consumed = _dataStart;
        foreach (var s in streams)
        {
            consumed += s.Consumed;
        }

        Volatile.Write(ref _position, Math.Min(consumed, Length));
    }

    private sealed record FormatSlot(EventFormat Format, bool Selected, int PidOffset);

    private readonly record struct MergeKey(ulong Time, int Cpu);

    private sealed class MergeKeyComparer : IComparer<MergeKey>
    {
        public static readonly MergeKeyComparer Instance = new();

        public int Compare(MergeKey x, MergeKey y) => x.Time != y.Time ? x.Time.CompareTo(y.Time) : x.Cpu.CompareTo(y.Cpu);
    }

    /// <summary>pid -> comm from saved cmdlines, remembering the last pid looked up (runs of one task are common).</summary>
    private sealed class CommCache(Dictionary<int, string> comms)
    {
        private int _lastPid = -1;
        private string _lastComm = UnknownComm;

        public string Get(int pid)
        {
            if (pid == _lastPid)
            {
                return _lastComm;
            }

            // libtraceevent names pid 0 "<idle>" (the swapper tasks are never in saved_cmdlines).
            var comm = comms.TryGetValue(pid, out var c) ? c : pid == 0 ? IdleComm : UnknownComm;
            _lastPid = pid;
            _lastComm = comm;
            return comm;
        }
    }
}
