using System.Buffers;
using System.Runtime.ExceptionServices;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Formats;

namespace IommuSan.Trace.Text;

/// <summary>One decoded event line of a chunk; its payload is in <see cref="LineChunk.Payloads"/>.</summary>
internal readonly record struct DecodedLine(
    long TimeNs, int Cpu, int Pid, string Comm, EventFormat Format, int PayloadStart, int PayloadLength, long LineNumber);

/// <summary>A diagnostic found while decoding a chunk, folded per kind and CPU within the chunk.</summary>
internal sealed record PendingDiagnostic(DiagnosticKind Kind, int? Cpu, long? TimeNs, long LineNumber, string Detail)
{
    public long Count { get; set; } = 1;
}

/// <summary>
/// A run of whole lines of a text trace (about <see cref="TextChunkPipeline.ReadSize"/> bytes) and,
/// once a worker has decoded it, its events, their payloads and its diagnostics. Chunks are
/// recycled: a fixed number circulate between the workers and the consumer, so memory stays
/// bounded by the chunk size whatever the trace's length.
/// </summary>
internal sealed class LineChunk : IDisposable
{
    private readonly Dictionary<(DiagnosticKind, int?), PendingDiagnostic> _diagnosticsByKey = [];
    private DecodedLine[] _events = new DecodedLine[1024];
    private byte[] _payloads = ArrayPool<byte>.Shared.Rent(1 << 16);
    private int _payloadLength;

    /// <summary>Position in file order (0, 1, 2, ...).</summary>
    public long Sequence { get; set; }

    /// <summary>The chunk's bytes: whole lines, the last one possibly without its newline at the end of input.</summary>
    public byte[] Input { get; private set; } = ArrayPool<byte>.Shared.Rent(TextChunkPipeline.ReadSize);

    public int InputLength { get; set; }

    /// <summary>1-based number of the chunk's first line.</summary>
    public long FirstLineNumber { get; set; }

    /// <summary>The last chunk (possibly empty).</summary>
    public bool End { get; set; }

    /// <summary>A reading error, rethrown to the consumer after the lines before it.</summary>
    public ExceptionDispatchInfo? Error { get; set; }

    /// <summary>From a "#P:N" or "cpus=N" header line in this chunk.</summary>
    public int? CpuCount { get; set; }

    /// <summary>Stream position after this chunk was read (progress).</summary>
    public long PositionAfter { get; set; }

    public int EventCount { get; private set; }

    public ReadOnlySpan<DecodedLine> Events => _events.AsSpan(0, EventCount);

    public byte[] Payloads => _payloads;

    /// <summary>Diagnostics in the order of the lines that first raised them.</summary>
    public List<PendingDiagnostic> Diagnostics { get; } = [];

    public void Clear()
    {
        InputLength = 0;
        FirstLineNumber = 0;
        End = false;
        Error = null;
        CpuCount = null;
        EventCount = 0;
        _payloadLength = 0;
        Diagnostics.Clear();
        _diagnosticsByKey.Clear();
    }

    /// <summary>Makes room for <paramref name="size"/> input bytes, keeping the first <paramref name="keep"/>.</summary>
    public void EnsureInput(int size, int keep)
    {
        if (size <= Input.Length)
        {
            return;
        }

        var bigger = ArrayPool<byte>.Shared.Rent(size);
        Input.AsSpan(0, keep).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(Input);
        Input = bigger;
    }

    public void AddEvent(long timeNs, int cpu, int pid, string comm, EventFormat format, ReadOnlySpan<byte> payload, long lineNumber)
    {
        if (EventCount == _events.Length)
        {
            Array.Resize(ref _events, _events.Length * 2);
        }

        if (_payloadLength + payload.Length > _payloads.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_payloads.Length * 2, _payloadLength + payload.Length));
            _payloads.AsSpan(0, _payloadLength).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_payloads);
            _payloads = bigger;
        }

        payload.CopyTo(_payloads.AsSpan(_payloadLength));
        _events[EventCount++] = new DecodedLine(timeNs, cpu, pid, comm, format, _payloadLength, payload.Length, lineNumber);
        _payloadLength += payload.Length;
    }

    /// <summary>
    /// Counts a repeat of a diagnostic this chunk already has (the same kind, and CPU where the kind is
    /// per CPU) and returns true; false when it is new, to be added with <see cref="AddDiagnostic"/>
    /// (so the detail text is only built for the first occurrence).
    /// </summary>
    public bool TryCountRepeat(DiagnosticKind kind, int? cpu, long count)
    {
        if (_diagnosticsByKey.TryGetValue((kind, kind.PerCpu ? cpu : null), out var pending))
        {
            pending.Count += count;
            return true;
        }

        return false;
    }

    /// <summary>Records the first occurrence in this chunk of a diagnostic (see <see cref="TryCountRepeat"/>).</summary>
    public void AddDiagnostic(DiagnosticKind kind, int? cpu, long count, long? timeNs, long lineNumber, string detail)
    {
        var key = (kind, kind.PerCpu ? cpu : null);
        var pending = new PendingDiagnostic(kind, key.Item2, timeNs, lineNumber, detail) { Count = count };
        _diagnosticsByKey[key] = pending;
        Diagnostics.Add(pending);
    }

    public void Dispose()
    {
        if (Input.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(Input);
            Input = [];
        }

        if (_payloads.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_payloads);
            _payloads = [];
        }
    }
}
