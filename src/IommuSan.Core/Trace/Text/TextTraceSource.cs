using System.Text;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Formats;
using IommuSan.Trace.Records;

namespace IommuSan.Trace.Text;

/// <summary>
/// A text trace: tracefs <c>trace</c>/<c>trace_pipe</c>, <c>trace-cmd report</c> or <c>perf script</c>
/// output. Lines are scanned as UTF-8 bytes in one pass with bounded memory; each known event's
/// payload is rebuilt from its printed fields (see <see cref="TextPayloadDecoder"/>), unknown
/// events are skipped after a name lookup, and damage is counted in <see cref="Diagnostics"/>.
/// Text traces are already in time order (the tracer merged the CPUs), so events come out in file order.
/// </summary>
internal sealed class TextTraceSource : ITraceSource
{
    private const int MaxCommCacheEntries = 1 << 16;

    // Direct-mapped memo in front of _comms: one array probe and a byte compare per event.
    private const int CommSlots = 256;

    private readonly Stream _input;
    private readonly Stream _positionStream;
    private readonly TextEventCatalog _catalog;
    private readonly Dictionary<int, string> _comms = [];
    private readonly int[] _commSlotPid = new int[CommSlots];
    private readonly byte[][] _commSlotBytes = new byte[CommSlots][];
    private readonly string?[] _commSlotString = new string?[CommSlots];

    // Last timestamp per CPU, indexed by CPU number (below 65536, so at most 512 KiB); long.MinValue = none yet.
    private long[] _lastTimeByCpu = [];
    private bool _read;
    private int _filterGeneration;

    /// <param name="displayPath">The path as the user gave it.</param>
    /// <param name="input">The (decompressed) text; owned and disposed by this source.</param>
    /// <param name="positionStream">The stream whose position/length measure progress (the file itself).</param>
    public TextTraceSource(string displayPath, TraceKind kind, Stream input, Stream positionStream, TextEventCatalog catalog, int? cpuPageShift)
    {
        Path = displayPath;
        Kind = kind;
        _input = input;
        _positionStream = positionStream;
        _catalog = catalog;
        CpuPageShift = cpuPageShift;
        Length = positionStream.CanSeek ? positionStream.Length : 0;
    }

    public string Path { get; }

    public TraceKind Kind { get; }

    public int? CpuPageShift { get; }

    /// <summary>From the "#P:N" header (tracefs) or "cpus=N" (trace-cmd); known once reading has started.</summary>
    public int? CpuCount { get; private set; }

    public IReadOnlyCollection<EventFormat> Formats => _catalog.Formats;

    public DiagnosticBag Diagnostics { get; } = new();

    public long Length { get; }

    public long Position => _positionStream.CanSeek ? _positionStream.Position : 0;

    public IEnumerable<TraceEvent> ReadEvents(EventFilter? filter = null, CancellationToken cancellationToken = default)
    {
        if (_read)
        {
            throw new InvalidOperationException("a text trace can be read once (single pass)");
        }

        _read = true;
        _filterGeneration++;
        return Read(filter, cancellationToken);
    }

    private IEnumerable<TraceEvent> Read(EventFilter? filter, CancellationToken cancellationToken)
    {
        // Lines are found and their heads parsed on a second thread, a few batches ahead.
        using var lines = new LinePipeline(_input, Path);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = lines.Take();
            for (var i = 0; i < batch.Count; i++)
            {
                if (TryDecodeLine(batch, i, filter, out var traceEvent))
                {
                    yield return traceEvent;
                }
            }

            var end = batch.End;
            lines.Return(batch);
            if (end)
            {
                yield break;
            }
        }
    }

    private bool TryDecodeLine(LineBatch batch, int index, EventFilter? filter, out TraceEvent traceEvent)
    {
        traceEvent = default;
        var line = batch.Line(index);
        var lineNumber = batch.FirstLineNumber + index;
        if (!batch.TryGetHead(index, out var head))
        {
            ReadOtherLine(line, lineNumber);
            return false;
        }

        var system = line.Slice(head.SystemStart, head.SystemLength);
        var name = line.Slice(head.NameStart, head.NameLength);
        var body = line[head.BodyStart..].TrimEnd((byte)' ');
        var type = _catalog.Find(system, name);
        if (type is null)
        {
            // Kprobes without a format file: learn the layout from this first line.
            if (body.IsEmpty || body[0] != '(' || (type = _catalog.SynthesizeProbe(system, name, body)) is null)
            {
                return false;
            }
        }

        if (!Wanted(type, filter))
        {
            return false;
        }

        if (body.Length > 0 && body[0] == '[' && body.StartsWith("[FAILED TO PARSE]"u8))
        {
            Diagnostics.Add(DiagnosticCatalog.FailedToParse, head.Cpu, 1, head.TimeNs, $"line {lineNumber}",
                $"{type.Format.System}:{type.Format.Name}: the tracer could not print this event");
            return false;
        }

        if (!type.Decoder.TryDecode(body, head.Pid, out var payload))
        {
            Diagnostics.Add(DiagnosticCatalog.UnparsableFields, head.Cpu, 1, head.TimeNs, $"line {lineNumber}",
                $"{type.Format.System}:{type.Format.Name}: fields do not match its print format");
            return false;
        }

        // Text is in the tracer's order; say so when a CPU's clock steps back (events stay in file order).
        if (head.Cpu >= _lastTimeByCpu.Length)
        {
            var grown = new long[Math.Max(head.Cpu + 1, _lastTimeByCpu.Length * 2)];
            grown.AsSpan(_lastTimeByCpu.Length).Fill(long.MinValue);
            _lastTimeByCpu.CopyTo(grown, 0);
            _lastTimeByCpu = grown;
        }

        var last = _lastTimeByCpu[head.Cpu];
        if (head.TimeNs < last)
        {
            Diagnostics.Add(DiagnosticCatalog.TimeWentBackwards, head.Cpu, 1, head.TimeNs, $"line {lineNumber}",
                $"cpu {head.Cpu}: timestamp {head.TimeNs} ns after {last} ns");
        }

        _lastTimeByCpu[head.Cpu] = head.TimeNs;
        var comm = Comm(head.Pid, line.Slice(head.CommStart, head.CommLength));
        traceEvent = new TraceEvent(head.TimeNs, head.Cpu, head.Pid, comm, type.Format, payload);
        return true;
    }

    private bool Wanted(TextEventType type, EventFilter? filter)
    {
        if (filter is null)
        {
            return true;
        }

        if (type.FilterGeneration != _filterGeneration)
        {
            type.FilterGeneration = _filterGeneration;
            type.FilterState = filter.Matches(type.Format) ? 1 : 2;
        }

        return type.FilterState == 1;
    }

    // Header, blank, lost-events and other non-event lines.
    private void ReadOtherLine(ReadOnlySpan<byte> line, long lineNumber)
    {
        var trimmed = line.Trim((byte)' ');
        if (trimmed.IsEmpty)
        {
            return;
        }

        if (trimmed[0] == '#')
        {
            // "# entries-in-buffer/entries-written: 18322/18322   #P:2"
            var p = trimmed.IndexOf("#P:"u8);
            if (p > 0 && TextNumbers.TryParseDecimal(trimmed[(p + 3)..].TrimEnd((byte)' '), out var cpus) && cpus is > 0 and < 65536)
            {
                CpuCount = (int)cpus;
            }

            return;
        }

        if (trimmed.StartsWith("cpus="u8))
        {
            if (TextNumbers.TryParseDecimal(trimmed[5..], out var cpus) && cpus is > 0 and < 65536)
            {
                CpuCount = (int)cpus;
            }

            return;
        }

        if (TryReadLost(trimmed, out var cpu, out var count))
        {
            Diagnostics.Add(DiagnosticCatalog.EventsLost, cpu, count, null, $"line {lineNumber}",
                $"cpu {cpu}: the ring buffer dropped events before line {lineNumber}");
            return;
        }

        // trace-cmd report preambles ("version = 6", "CPU 1 is empty", "trace-cmd: ...").
        if (trimmed.StartsWith("version = "u8) || (trimmed.StartsWith("CPU "u8) && trimmed.EndsWith(" is empty"u8)))
        {
            return;
        }

        Diagnostics.Add(DiagnosticCatalog.UnparsableLine, null, 1, null, $"line {lineNumber}",
            $"first unparsable line: {Preview(trimmed)}");
    }

    // "CPU:1 [LOST 123 EVENTS]" (tracefs) and "CPU:1 [123 EVENTS DROPPED]" (trace-cmd report).
    private static bool TryReadLost(ReadOnlySpan<byte> line, out int cpu, out long count)
    {
        cpu = 0;
        count = 0;
        if (!line.StartsWith("CPU:"u8))
        {
            return false;
        }

        var open = line.IndexOf(" ["u8);
        if (open < 0 || line[^1] != ']' || !TextNumbers.TryParseDecimal(line[4..open], out var cpuValue) || cpuValue > 65535)
        {
            return false;
        }

        cpu = (int)cpuValue;
        var inside = line[(open + 2)..^1];
        if (inside.StartsWith("LOST "u8) && inside.EndsWith(" EVENTS"u8))
        {
            return TextNumbers.TryParseDecimal(inside[5..^7], out count);
        }

        if (inside.EndsWith(" EVENTS DROPPED"u8))
        {
            return TextNumbers.TryParseDecimal(inside[..^15], out count);
        }

        return false;
    }

    private static string Preview(ReadOnlySpan<byte> line) =>
        Encoding.UTF8.GetString(line[..Math.Min(line.Length, 120)]);

    // One string per task name, not one per event.
    private string Comm(int pid, ReadOnlySpan<byte> bytes)
    {
        var slot = pid & (CommSlots - 1);
        if (_commSlotString[slot] is { } cached && _commSlotPid[slot] == pid && bytes.SequenceEqual(_commSlotBytes[slot]))
        {
            return cached;
        }

        var comm = CommSlow(pid, bytes);
        if (bytes.Length <= 64)
        {
            _commSlotPid[slot] = pid;
            if (_commSlotBytes[slot]?.Length != bytes.Length)
            {
                _commSlotBytes[slot] = new byte[bytes.Length]; // two tasks sharing a slot reuse it when lengths agree
            }

            bytes.CopyTo(_commSlotBytes[slot]);
            _commSlotString[slot] = comm;
        }

        return comm;
    }

    private string CommSlow(int pid, ReadOnlySpan<byte> bytes)
    {
        if (_comms.TryGetValue(pid, out var known) && System.Text.Ascii.Equals(bytes, known))
        {
            return known;
        }

        var comm = Encoding.UTF8.GetString(bytes);
        if (_comms.Count >= MaxCommCacheEntries)
        {
            _comms.Clear();
        }

        _comms[pid] = comm;
        return comm;
    }

    public void Dispose()
    {
        _input.Dispose();
        if (!ReferenceEquals(_input, _positionStream))
        {
            _positionStream.Dispose();
        }
    }
}
