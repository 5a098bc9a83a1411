namespace IommuSan.Trace.Diagnostics;

/// <summary>
/// Collects diagnostics with bounded memory: occurrences of the same kind on the same CPU are
/// folded into one entry (count added up, first location and time kept), so a trace with a
/// million bad lines costs one entry, not a million.
/// </summary>
internal sealed class DiagnosticBag
{
    private readonly Dictionary<(DiagnosticKind Kind, int? Cpu), Diagnostic> _byKey = [];
    private readonly List<(DiagnosticKind Kind, int? Cpu)> _order = [];

    public void Add(DiagnosticKind kind, int? cpu, long count, long? timeNs, string? location, string detail)
    {
        ArgumentNullException.ThrowIfNull(kind);
        var key = (kind, kind.PerCpu ? cpu : null);
        if (_byKey.TryGetValue(key, out var existing))
        {
            _byKey[key] = existing with { Count = existing.Count + count };
            return;
        }

        _byKey[key] = new Diagnostic(kind, key.Item2, count, timeNs, location, detail);
        _order.Add(key);
    }

    /// <summary>
    /// Adds <paramref name="count"/> to a diagnostic already held for this kind (and CPU, where the
    /// kind is per CPU) and returns true; false when it is new. Per-event callers check this first so
    /// the detail text is only built for the first occurrence, not for every repeat.
    /// </summary>
    public bool TryCountRepeat(DiagnosticKind kind, int? cpu, long count = 1)
    {
        ArgumentNullException.ThrowIfNull(kind);
        var key = (kind, kind.PerCpu ? cpu : null);
        if (!_byKey.TryGetValue(key, out var existing))
        {
            return false;
        }

        _byKey[key] = existing with { Count = existing.Count + count };
        return true;
    }

    public int Count => _order.Count;

    /// <summary>Folded diagnostics in the order their kinds were first seen.</summary>
    public IReadOnlyList<Diagnostic> ToList() => _order.Select(k => _byKey[k]).ToList();

    public bool Any(Severity severity) => _byKey.Values.Any(d => d.Kind.Severity == severity);
}
