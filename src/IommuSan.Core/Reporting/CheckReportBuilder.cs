using IommuSan.Findings;
using IommuSan.Replay;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Records;

namespace IommuSan.Reporting;

/// <summary>Builds the <see cref="CheckReport"/> of one trace from what the replay found.</summary>
internal static class CheckReportBuilder
{
    /// <summary>Live-at-end mappings listed in a report; the summary counts all of them.</summary>
    public const int MaxLiveAtEndListed = 1000;

    public static CheckReport Build(
        ReplayResult result, string path, TraceKind kind, int? cpus, CheckOptions options, bool pageSizeFromTrace,
        IReadOnlyList<Diagnostic> diagnostics, string toolVersion)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(options);
        var findings = result.Findings.Select(ToDto).ToList();
        var byKind = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var k in FindingKinds.All)
        {
            byKind[FindingKinds.Id(k)] = 0;
        }

        foreach (var f in result.Findings)
        {
            byKind[FindingKinds.Id(f.Kind)]++;
        }

        byKind[FindingKinds.Id(FindingKind.LiveAtEnd)] = result.LiveAtEnd.Count;
        var failing = result.Findings.Count(f => f.Fails);
        var s = result.Statistics;
        return new CheckReport
        {
            Tool = "iommusan",
            ToolVersion = toolVersion,
            Trace = new TraceInfo
            {
                Path = path,
                Kind = KindId(kind),
                CpuPageSize = 1 << options.CpuPageShift,
                CpuPageSizeSource = pageSizeFromTrace ? "trace" : "option",
                Cpus = cpus,
                IommuPgsizeBitmap = Hex(options.PgsizeBitmap),
            },
            Mode = options.Mode == CheckMode.Kernel ? "kernel" : "precise",
            Summary = new Summary
            {
                Events = s.Events,
                Findings = failing,
                ByKind = byKind,
                Ambiguous = result.Ambiguities.Count,
                LiveAtEnd = result.LiveAtEnd.Count,
                DataLoss = diagnostics.Any(d => d.Kind.Severity == Severity.DataLoss),
                ExitCode = failing > 0 ? 1 : 0,
            },
            Findings = findings,
            Ambiguous = result.Ambiguities.Select(ToDto).ToList(),
            LiveAtEnd = result.LiveAtEnd.Take(MaxLiveAtEndListed).Select(ToDto).ToList(),
            Diagnostics = diagnostics.Select(ToDto).ToList(),
            Statistics = new Statistics
            {
                Maps = s.Maps,
                Unmaps = s.Unmaps,
                PageAllocs = s.PageAllocs,
                PageFrees = s.PageFrees,
                BatchedFreesFolded = s.BatchedFreesFolded,
                AttributedByKprobe = s.AttributedByKprobe,
                AttributedByDmaEvent = s.AttributedByDmaEvent,
                AttributedByInference = s.AttributedByInference,
                Unattributed = s.Unattributed,
                UnmapsOfUnseenMappings = s.UnmapsOfUnseenMappings,
                FreesWithoutAlloc = s.FreesWithoutAlloc,
                FailedMapUnwinds = s.FailedMapUnwinds,
                MapErrorPathUnmaps = s.MapErrorPathUnmaps,
                Domains = s.Domains,
            },
        };
    }

    public static string Hex(ulong value) => $"0x{value:x}";

    public static string KindId(TraceKind kind) => kind switch
    {
        TraceKind.TraceDatV6 => "trace-dat-v6",
        TraceKind.TraceDatV7 => "trace-dat-v7",
        TraceKind.FtraceText => "ftrace-text",
        TraceKind.TraceCmdReport => "trace-cmd-report",
        TraceKind.PerfScript => "perf-script",
        _ => kind.ToString(),
    };

    private static FindingDto ToDto(Finding f)
    {
        var unmapped = f.Mappings.Select(m => m.UnmappedAtNs).FirstOrDefault();
        return new FindingDto
        {
            Kind = FindingKinds.Id(f.Kind),
            Message = f.Message,
            Pfn = f.Pfn is { } pfn ? Hex(pfn) : null,
            Order = f.Order,
            TimeNs = f.Event.TimeNs,
            Event = ToDto(f.Event),
            Mappings = f.Mappings.Select(ToDto).ToList(),
            Owner = f.Owner is { } o
                ? new OwnerDto
                {
                    Pfn = Hex(o.Pfn),
                    Order = o.Order,
                    GfpFlags = Hex(o.GfpFlags),
                    AllocatedAtNs = o.Allocation.TimeNs,
                    Allocation = ToDto(o.Allocation),
                    FreedAtNs = o.FreedAtNs,
                }
                : null,
            OwnerSeen = f.Owner is not null,
            ExposureNs = f.Kind == FindingKind.PageLeak && unmapped is { } u ? u - f.Event.TimeNs : null,
            LaterEvents = f.LaterEvents.Select(l => new LaterEventDto
            {
                Event = l.Event.Name, TimeNs = l.Event.TimeNs, Cpu = l.Event.Cpu, Pid = l.Event.Pid, Comm = l.Event.Comm, Order = l.Order,
            }).ToList(),
            LaterEventsTotal = f.LaterEventsTotal,
            PossiblyAffectedBy = [.. f.PossiblyAffectedBy],
            Notes = [.. f.Notes],
        };
    }

    private static EventDto ToDto(EvidenceEvent e) => new()
    {
        Event = e.Name, TimeNs = e.TimeNs, Cpu = e.Cpu, Pid = e.Pid, Comm = e.Comm, Detail = e.Detail,
    };

    private static MappingDto ToDto(MappingInfo m) => new()
    {
        Domain = m.DomainPointer is { } p ? Hex(p) : null,
        DomainLabel = m.DomainLabel,
        Device = m.Device,
        Iova = Hex(m.Iova),
        Size = m.Size,
        Paddr = Hex(m.Paddr),
        MappedAtNs = m.MappedBy.TimeNs,
        MappedBy = ToDto(m.MappedBy),
        Attribution = m.Attribution switch
        {
            AttributionSource.Kprobe => "kprobe",
            AttributionSource.DmaEvent => "dma-event",
            AttributionSource.Inference => "inference",
            _ => "none",
        },
        UnmappedAtNs = m.UnmappedAtNs,
        UnmappedBy = m.UnmappedBy is { } u ? ToDto(u) : null,
    };

    private static AmbiguityDto ToDto(Ambiguity a) => new()
    {
        Unmap = ToDto(a.Unmap),
        Iova = Hex(a.Iova),
        Size = a.Size,
        Candidates = a.Candidates.Select(ToDto).ToList(),
        CandidatePfns = a.CandidatePfns.Select(Hex).ToList(),
        PageEventsInDoubt = a.PageEventsInDoubt.Select(ToDto).ToList(),
        PageEventsInDoubtTotal = a.PageEventsInDoubtTotal,
        Resolution = a.Resolution,
    };

    private static DiagnosticDto ToDto(Diagnostic d) => new()
    {
        Kind = d.Kind.Id,
        Severity = d.Kind.Severity switch { Severity.Info => "info", Severity.DataLoss => "data-loss", _ => "error" },
        Cpu = d.Cpu,
        Count = d.Count,
        FirstTimeNs = d.FirstTimeNs,
        Location = d.Location,
        Detail = d.Detail,
        Description = d.Kind.Description,
    };
}
