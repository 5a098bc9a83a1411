namespace IommuSan.Trace.Diagnostics;

/// <summary>How much a recoverable problem in a trace matters to the findings.</summary>
internal enum Severity
{
    /// <summary>Worth knowing; cannot change a finding.</summary>
    Info,

    /// <summary>Events are missing: a finding may be missed or may be caused by the gap.</summary>
    DataLoss,

    /// <summary>Part of the input could not be read at all (a corrupt page, an unparsable line).</summary>
    Error,
}

/// <summary>One entry of the declared catalogue of recoverable damage.</summary>
/// <param name="Id">Stable kebab-case id; part of the JSON contract.</param>
/// <param name="Severity">How much it matters.</param>
/// <param name="PerCpu">Whether occurrences are counted per CPU.</param>
/// <param name="Description">One sentence for the README and the report.</param>
internal sealed record DiagnosticKind(string Id, Severity Severity, bool PerCpu, string Description);

/// <summary>
/// One occurrence (or an aggregate of occurrences) of a catalogued problem.
/// <see cref="Count"/> is the number of events lost or items affected, not the number of reports.
/// </summary>
internal sealed record Diagnostic(
    DiagnosticKind Kind,
    int? Cpu,
    long Count,
    long? FirstTimeNs,
    string? Location,
    string Detail);
