namespace IommuSan.Trace.Diagnostics;

/// <summary>
/// The declared catalogue of recoverable damage a trace can carry (after Perfetto's stats table).
/// Readers report only kinds listed here; the ids are part of the JSON contract (README).
/// Add new kinds here, never ad hoc.
/// </summary>
internal static class DiagnosticCatalog
{
    public static readonly DiagnosticKind EventsLost = new(
        "events-lost", Severity.DataLoss, PerCpu: true,
        "The kernel dropped events on this CPU (ring buffer full); unmaps or frees may be missing.");

    public static readonly DiagnosticKind EventsLostUnknownCount = new(
        "events-lost-unknown-count", Severity.DataLoss, PerCpu: true,
        "A ring-buffer page says events were missed before it but not how many.");

    public static readonly DiagnosticKind CorruptPage = new(
        "corrupt-page", Severity.Error, PerCpu: true,
        "A ring-buffer page could not be decoded; its remaining events were skipped.");

    public static readonly DiagnosticKind UnknownEventId = new(
        "unknown-event-id", Severity.Error, PerCpu: true,
        "An event's common_type matches no format in the file; the event was skipped.");

    public static readonly DiagnosticKind TruncatedPayload = new(
        "truncated-payload", Severity.Error, PerCpu: true,
        "An event payload is shorter than its format requires; the event was skipped.");

    public static readonly DiagnosticKind TimeWentBackwards = new(
        "time-went-backwards", Severity.Info, PerCpu: true,
        "A CPU's timestamps decreased; events were kept in file order for that CPU.");

    public static readonly DiagnosticKind UnparsableLine = new(
        "unparsable-line", Severity.Error, PerCpu: false,
        "A text trace line could not be parsed; it was skipped.");

    public static readonly DiagnosticKind UnparsableFields = new(
        "unparsable-fields", Severity.Error, PerCpu: false,
        "An event's printed fields did not match its known layout; the event was skipped.");

    public static readonly DiagnosticKind TraceStartsMidLife = new(
        "trace-starts-mid-life", Severity.Info, PerCpu: false,
        "The trace begins while mappings and pages already exist: unmaps without maps and frees without allocations are expected.");

    public static readonly DiagnosticKind FailedToParse = new(
        "failed-to-parse", Severity.Error, PerCpu: false,
        "The text trace says the tracer itself could not print this event ([FAILED TO PARSE]); its fields are unknown.");

    public static readonly DiagnosticKind AmbiguousUnmap = new(
        "ambiguous-unmap", Severity.Info, PerCpu: false,
        "An unmap matched live mappings of the same IOVA in several domains and no event said which one went; pages involved are listed as ambiguous, not as findings.");

    public static readonly DiagnosticKind UnattributedMap = new(
        "unattributed-map", Severity.Info, PerCpu: false,
        "A map had no kprobe or dma event naming its domain; it was kept in a domain of its own (an IOVA is live at most once per domain).");

    public static readonly DiagnosticKind MapOverLiveIova = new(
        "map-over-live-iova", Severity.DataLoss, PerCpu: false,
        "A map reused an IOVA still live in its domain, which the kernel refuses: an unmap is missing from the trace (or was attributed elsewhere).");

    public static readonly DiagnosticKind UnparsableFormat = new(
        "unparsable-format", Severity.Error, PerCpu: false,
        "An event format stored in the trace file could not be parsed; events with its id are reported as unknown-event-id.");

    public static readonly DiagnosticKind ClockNotNanoseconds = new(
        "clock-not-ns", Severity.Info, PerCpu: false,
        "The trace clock counts in its own units (x86-tsc, counter, uptime jiffies); timestamps are raw clock values, not nanoseconds.");

    public static readonly DiagnosticKind InstanceNotRead = new(
        "instance-not-read", Severity.Info, PerCpu: false,
        "The trace file also holds a buffer instance other than the top-level one; only the top-level buffer was read.");

    public static readonly DiagnosticKind ImplausibleRange = new(
        "implausible-range", Severity.Error, PerCpu: false,
        "An iommu:map or iommu:unmap covers more than any real IOMMU call can (a corrupt event); it was skipped, not replayed.");

    public static readonly IReadOnlyList<DiagnosticKind> All =
    [
        EventsLost, EventsLostUnknownCount, CorruptPage, UnknownEventId, TruncatedPayload, TimeWentBackwards,
        UnparsableLine, UnparsableFields, TraceStartsMidLife, FailedToParse, UnparsableFormat, ClockNotNanoseconds,
        InstanceNotRead, AmbiguousUnmap, UnattributedMap, MapOverLiveIova, ImplausibleRange,
    ];
}
