using System.Text;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Formats;
using IommuSan.Trace.Records;

namespace IommuSan.Trace.Text;

/// <summary>
/// A text trace: tracefs <c>trace</c>/<c>trace_pipe</c>, <c>trace-cmd report</c> or <c>perf script</c>
/// output. Lines are scanned as UTF-8 bytes with bounded memory by worker threads, a chunk of lines
/// each (<see cref="TextChunkPipeline"/>, <see cref="TextChunkDecoder"/>): each known event's payload
/// is rebuilt from its printed fields (see <see cref="TextPayloadDecoder"/>), unknown events are
/// skipped after a name lookup, and damage is counted in <see cref="Diagnostics"/>. Text traces are
/// already in time order (the tracer merged the CPUs), so events come out in file order.
/// </summary>
internal sealed class TextTraceSource : ITraceSource
{
    private readonly Stream _input;
    private readonly Stream _positionStream;
    private readonly IReadOnlyList<EventFormat> _userFormats;
    private readonly TextEventCatalog _catalog;

    // Last timestamp per CPU, indexed by CPU number (below 65536, so at most 512 KiB); long.MinValue = none yet.
    private long[] _lastTimeByCpu = [];
    private bool _read;
    private long _position;

    /// <param name="displayPath">The path as the user gave it.</param>
    /// <param name="input">The (decompressed) text; owned and disposed by this source.</param>
    /// <param name="positionStream">The stream whose position/length measure progress (the file itself).</param>
    /// <param name="userFormats">Formats from the user's <c>--formats</c> directory (they win over the built-in ones).</param>
    public TextTraceSource(string displayPath, TraceKind kind, Stream input, Stream positionStream, IReadOnlyList<EventFormat> userFormats, int? cpuPageShift)
    {
        Path = displayPath;
        Kind = kind;
        _input = input;
        _positionStream = positionStream;
        _userFormats = userFormats;
        _catalog = new TextEventCatalog(userFormats);
        CpuPageShift = cpuPageShift;
        Length = positionStream.CanSeek ? positionStream.Length : 0;
    }

    public string Path { get; }

    public TraceKind Kind { get; }

    public int? CpuPageShift { get; }

    /// <summary>From the "#P:N" header (tracefs) or "cpus=N" (trace-cmd); known once reading has started.</summary>
    public int? CpuCount { get; private set; }

    /// <summary>The user's and built-in formats, and the probe formats synthesised from the lines read so far.</summary>
    public IReadOnlyCollection<EventFormat> Formats => _catalog.Formats;

    public DiagnosticBag Diagnostics { get; } = new();

    public long Length { get; }

    /// <summary>Bytes of the file read so far (decoding runs at most a few chunks ahead of the events handed out).</summary>
    public long Position => Volatile.Read(ref _position);

    public IEnumerable<TraceEvent> ReadEvents(EventFilter? filter = null, CancellationToken cancellationToken = default)
    {
        if (_read)
        {
            throw new InvalidOperationException("a text trace can be read once (single pass)");
        }

        _read = true;
        return Read(filter, cancellationToken);
    }

    private IEnumerable<TraceEvent> Read(EventFilter? filter, CancellationToken cancellationToken)
    {
        // Each worker gets its own catalog (decoder state) sharing this source's synthesised probes.
        using var chunks = new TextChunkPipeline(_input, _positionStream, Path,
            () => new TextChunkDecoder(Path, new TextEventCatalog(_userFormats, probes: _catalog.Probes), filter));
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var chunk = chunks.Take();
            if (chunk.CpuCount is { } cpus)
            {
                CpuCount = cpus;
            }

            var pending = chunk.Diagnostics;
            var nextDiagnostic = 0;
            var count = chunk.EventCount;
            for (var i = 0; i < count; i++)
            {
                var e = chunk.Events[i];

                // Diagnostics of lines before this one first, so the bag sees them in file order.
                while (nextDiagnostic < pending.Count && pending[nextDiagnostic].LineNumber < e.LineNumber)
                {
                    Report(pending[nextDiagnostic++]);
                }

                CheckTime(e);
                yield return new TraceEvent(e.TimeNs, e.Cpu, e.Pid, e.Comm, e.Format, chunk.Payloads.AsMemory(e.PayloadStart, e.PayloadLength));
            }

            while (nextDiagnostic < pending.Count)
            {
                Report(pending[nextDiagnostic++]);
            }

            Volatile.Write(ref _position, chunk.PositionAfter);
            var end = chunk.End;
            var error = chunk.Error;
            chunks.Return(chunk);
            error?.Throw();
            if (end)
            {
                yield break;
            }
        }
    }

    private void Report(PendingDiagnostic d) =>
        Diagnostics.Add(d.Kind, d.Cpu, d.Count, d.TimeNs, $"line {d.LineNumber}", d.Detail);

    // Text is in the tracer's order; say so when a CPU's clock steps back (events stay in file order).
    private void CheckTime(in DecodedLine e)
    {
        if (e.Cpu >= _lastTimeByCpu.Length)
        {
            var grown = new long[Math.Max(e.Cpu + 1, _lastTimeByCpu.Length * 2)];
            grown.AsSpan(_lastTimeByCpu.Length).Fill(long.MinValue);
            _lastTimeByCpu.CopyTo(grown, 0);
            _lastTimeByCpu = grown;
        }

        var last = _lastTimeByCpu[e.Cpu];
        if (e.TimeNs < last)
        {
            if (!Diagnostics.TryCountRepeat(DiagnosticCatalog.TimeWentBackwards, e.Cpu))
            {
                Diagnostics.Add(DiagnosticCatalog.TimeWentBackwards, e.Cpu, 1, e.TimeNs, $"line {e.LineNumber}",
                    $"cpu {e.Cpu}: timestamp {e.TimeNs} ns after {last} ns");
            }
        }

        _lastTimeByCpu[e.Cpu] = e.TimeNs;
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
