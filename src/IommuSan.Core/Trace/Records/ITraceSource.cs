using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Formats;

namespace IommuSan.Trace.Records;

/// <summary>The concrete form a trace file was recognised as.</summary>
internal enum TraceKind
{
    /// <summary>Binary trace-cmd file, format version 6.</summary>
    TraceDatV6,

    /// <summary>Binary trace-cmd file, format version 7 (sections, optional compression).</summary>
    TraceDatV7,

    /// <summary>tracefs <c>trace</c> or <c>trace_pipe</c> text.</summary>
    FtraceText,

    /// <summary><c>trace-cmd report</c> text.</summary>
    TraceCmdReport,

    /// <summary><c>perf script</c> text.</summary>
    PerfScript,
}

/// <summary>Which events a consumer wants decoded; everything else is skipped as cheaply as the format allows.</summary>
internal sealed class EventFilter
{
    private readonly HashSet<(string System, string Name)> _events;
    private readonly HashSet<string> _systems;
    private readonly Func<EventFormat, bool>? _probes;

    /// <param name="probes">
    /// Decides for probe formats that appear while reading (a text trace's kprobes without format files
    /// are synthesised from their first line, after the filter was made). Must be thread-safe: text
    /// traces are decoded on worker threads.
    /// </param>
    public EventFilter(IEnumerable<(string System, string Name)> events, IEnumerable<string>? wholeSystems = null, Func<EventFormat, bool>? probes = null)
    {
        _events = [.. events];
        _systems = [.. wholeSystems ?? []];
        _probes = probes;
    }

    /// <summary>Parses "sys:name,sys:name,sys" (a bare system selects all its events; "*" selects all).</summary>
    public static EventFilter? Parse(string? spec)
    {
        if (string.IsNullOrWhiteSpace(spec) || spec.Trim() == "*")
        {
            return null;
        }

        var events = new List<(string, string)>();
        var systems = new List<string>();
        foreach (var item in spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = item.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || item[(colon + 1)..] == "*")
            {
                systems.Add(colon < 0 ? item : item[..colon]);
            }
            else
            {
                events.Add((item[..colon], item[(colon + 1)..]));
            }
        }

        return new EventFilter(events, systems);
    }

    public bool Matches(EventFormat format) =>
        _systems.Contains(format.System) || _events.Contains((format.System, format.Name))
        || (format.IsProbe && _probes is not null && _probes(format));
}

/// <summary>
/// A readable trace. Events come out in time order (per-CPU streams merged, ties to the lower CPU),
/// with memory bounded independently of the trace's size.
/// </summary>
internal interface ITraceSource : IDisposable
{
    /// <summary>The path as the user gave it (for messages).</summary>
    string Path { get; }

    TraceKind Kind { get; }

    /// <summary>log2 of the traced machine's CPU page size when the file records it (trace.dat); null for text.</summary>
    int? CpuPageShift { get; }

    /// <summary>Number of CPUs the trace covers, if known.</summary>
    int? CpuCount { get; }

    /// <summary>Event formats known to this source (from the file itself, or built in for text).</summary>
    IReadOnlyCollection<EventFormat> Formats { get; }

    /// <summary>Recoverable damage seen so far (lost events, bad lines, corrupt pages).</summary>
    DiagnosticBag Diagnostics { get; }

    /// <summary>Total input size in bytes (of the file as stored), for progress.</summary>
    long Length { get; }

    /// <summary>Bytes of the input consumed so far (approximate for compressed input), for progress.</summary>
    long Position { get; }

    /// <summary>Reads every event (or those <paramref name="filter"/> selects) in time order. Single pass.</summary>
    IEnumerable<TraceEvent> ReadEvents(EventFilter? filter = null, CancellationToken cancellationToken = default);
}
