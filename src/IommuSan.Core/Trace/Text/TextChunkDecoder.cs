using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Records;

namespace IommuSan.Trace.Text;

/// <summary>
/// One worker's decoding state: splits a chunk into lines, parses each line's head
/// (<see cref="TextLine"/>), looks up its event type in the worker's own catalog, rebuilds the
/// payload from the printed fields and appends the event to the chunk; header, lost-events and
/// damaged lines become chunk diagnostics. Not thread-safe: one instance per worker thread.
/// </summary>
internal sealed class TextChunkDecoder
{
    private const int MaxCommCacheEntries = 1 << 16;

    // Direct-mapped memo in front of _comms: one array probe and a byte compare per event.
    private const int CommSlots = 256;

    private readonly string _displayPath;
    private readonly TextEventCatalog _catalog;
    private readonly EventFilter? _filter;
    private readonly Dictionary<int, string> _comms = [];
    private readonly int[] _commSlotPid = new int[CommSlots];
    private readonly byte[][] _commSlotBytes = new byte[CommSlots][];
    private readonly string?[] _commSlotString = new string?[CommSlots];

    public TextChunkDecoder(string displayPath, TextEventCatalog catalog, EventFilter? filter)
    {
        _displayPath = displayPath;
        _catalog = catalog;
        _filter = filter;
    }

    public void Decode(LineChunk chunk)
    {
        var input = chunk.Input.AsSpan(0, chunk.InputLength);
        var lineNumber = chunk.FirstLineNumber;
        var start = 0;

        // Line ends are found 32 bytes at a time (lines are ~130 bytes: a search call per line would
        // spend more on its setup than on the search).
        ref var data = ref MemoryMarshal.GetArrayDataReference(chunk.Input);
        var p = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var newline = Vector256.Create((byte)'\n');
            for (; p + Vector256<byte>.Count <= input.Length; p += Vector256<byte>.Count)
            {
                var mask = Vector256.Equals(Vector256.LoadUnsafe(ref data, (nuint)p), newline).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    var end = p + BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                    if (!DecodeLine(chunk, input[start..end], lineNumber++))
                    {
                        return;
                    }

                    start = end + 1;
                }
            }
        }

        while (start < input.Length)
        {
            var end = input[Math.Max(start, p)..].IndexOf((byte)'\n');
            end = end < 0 ? input.Length : Math.Max(start, p) + end;
            if (!DecodeLine(chunk, input[start..end], lineNumber++))
            {
                return;
            }

            start = end + 1;
        }
    }

    // False when the line ends the chunk's decoding (an error recorded in the chunk).
    private bool DecodeLine(LineChunk chunk, ReadOnlySpan<byte> line, long lineNumber)
    {
        if (line.Length > TextChunkPipeline.MaxLineLength)
        {
            chunk.Error = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(new TraceDataException(
                _displayPath, $"line longer than {TextChunkPipeline.MaxLineLength} bytes; not a text trace", line: lineNumber));
            return false;
        }

        if (!line.IsEmpty && line[^1] == '\r')
        {
            line = line[..^1];
        }

        if (!TextLine.TryParse(line, out var head))
        {
            ReadOtherLine(chunk, line, lineNumber);
            return true;
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
                return true;
            }
        }

        if (!Wanted(type))
        {
            return true;
        }

        if (body.Length > 0 && body[0] == '[' && body.StartsWith("[FAILED TO PARSE]"u8))
        {
            Report(chunk, DiagnosticCatalog.FailedToParse, head, lineNumber, type, "the tracer could not print this event");
            return true;
        }

        if (!type.Decoder.TryDecode(body, head.Pid, out var payload))
        {
            Report(chunk, DiagnosticCatalog.UnparsableFields, head, lineNumber, type, "fields do not match its print format");
            return true;
        }

        var comm = Comm(head.Pid, line.Slice(head.CommStart, head.CommLength));
        chunk.AddEvent(head.TimeNs, head.Cpu, head.Pid, comm, type.Format, payload.Span, lineNumber);
        return true;
    }

    // Not inlined into DecodeLine: a lambda or interpolation there would cost every line, not only the bad ones.
    private static void Report(LineChunk chunk, DiagnosticKind kind, in TextLine head, long lineNumber, TextEventType type, string what)
    {
        if (!chunk.TryCountRepeat(kind, head.Cpu, 1))
        {
            chunk.AddDiagnostic(kind, head.Cpu, 1, head.TimeNs, lineNumber, $"{type.Format.System}:{type.Format.Name}: {what}");
        }
    }

    private bool Wanted(TextEventType type)
    {
        if (_filter is null)
        {
            return true;
        }

        if (type.FilterState == 0)
        {
            type.FilterState = _filter.Matches(type.Format) ? 1 : 2;
        }

        return type.FilterState == 1;
    }

    // Header, blank, lost-events and other non-event lines.
    private static void ReadOtherLine(LineChunk chunk, ReadOnlySpan<byte> line, long lineNumber)
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
                chunk.CpuCount = (int)cpus;
            }

            return;
        }

        if (trimmed.StartsWith("cpus="u8))
        {
            if (TextNumbers.TryParseDecimal(trimmed[5..], out var cpus) && cpus is > 0 and < 65536)
            {
                chunk.CpuCount = (int)cpus;
            }

            return;
        }

        if (TryReadLost(trimmed, out var cpu, out var count))
        {
            if (!chunk.TryCountRepeat(DiagnosticCatalog.EventsLost, cpu, count))
            {
                chunk.AddDiagnostic(DiagnosticCatalog.EventsLost, cpu, count, null, lineNumber, $"cpu {cpu}: the ring buffer dropped events before line {lineNumber}");
            }

            return;
        }

        // trace-cmd report preambles ("version = 6", "CPU 1 is empty", "trace-cmd: ...").
        if (trimmed.StartsWith("version = "u8) || (trimmed.StartsWith("CPU "u8) && trimmed.EndsWith(" is empty"u8)))
        {
            return;
        }

        if (!chunk.TryCountRepeat(DiagnosticCatalog.UnparsableLine, null, 1))
        {
            chunk.AddDiagnostic(DiagnosticCatalog.UnparsableLine, null, 1, null, lineNumber, $"first unparsable line: {Preview(trimmed)}");
        }
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
        if (_comms.TryGetValue(pid, out var known) && Ascii.Equals(bytes, known))
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
}
