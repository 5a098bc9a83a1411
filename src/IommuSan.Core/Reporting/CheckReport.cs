using System.Text.Json;
using System.Text.Json.Serialization;

namespace IommuSan.Reporting;

// The JSON contract of `iommusan check --json` (docs/schema/check-report.schema.json). Field names are
// snake_case and stable; addresses and pfns are hex strings "0x..." (64-bit values do not survive
// JSON numbers in every consumer); times are integer nanoseconds on the trace clock.

/// <summary>The whole report of one trace.</summary>
internal sealed class CheckReport
{
    public const int CurrentSchemaVersion = 1;

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    public required string Tool { get; init; }

    public required string ToolVersion { get; init; }

    public required TraceInfo Trace { get; init; }

    /// <summary>"precise" or "kernel".</summary>
    public required string Mode { get; init; }

    public required Summary Summary { get; init; }

    public required List<FindingDto> Findings { get; init; }

    public required List<AmbiguityDto> Ambiguous { get; init; }

    /// <summary>Informational: mappings still live at the end of the trace (bounded; see summary.live_at_end).</summary>
    public required List<MappingDto> LiveAtEnd { get; init; }

    public required List<DiagnosticDto> Diagnostics { get; init; }

    public required Statistics Statistics { get; init; }

    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        IndentSize = 2,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}

internal sealed class TraceInfo
{
    public required string Path { get; init; }

    /// <summary>trace-dat-v6, trace-dat-v7, ftrace-text, trace-cmd-report, perf-script.</summary>
    public required string Kind { get; init; }

    public required int CpuPageSize { get; init; }

    /// <summary>"trace" when the file recorded it, "option" when it came from --page-size (or its default).</summary>
    public required string CpuPageSizeSource { get; init; }

    public int? Cpus { get; init; }

    public required string IommuPgsizeBitmap { get; init; }
}

internal sealed class Summary
{
    public required long Events { get; init; }

    /// <summary>Findings that fail the run (live-at-end excluded).</summary>
    public required int Findings { get; init; }

    /// <summary>Count per finding kind id, every kind present (0 when none), live-at-end included.</summary>
    public required SortedDictionary<string, int> ByKind { get; init; }

    public required int Ambiguous { get; init; }

    public required int LiveAtEnd { get; init; }

    /// <summary>True when the trace lost events: findings may be missing or caused by the gap.</summary>
    public required bool DataLoss { get; init; }

    /// <summary>The exit code `check` returns for this trace alone.</summary>
    public required int ExitCode { get; init; }
}

internal sealed class EventDto
{
    public required string Event { get; init; }

    public required long TimeNs { get; init; }

    public required int Cpu { get; init; }

    public required int Pid { get; init; }

    public required string Comm { get; init; }

    public required string Detail { get; init; }
}

internal sealed class MappingDto
{
    /// <summary>Domain pointer (hex) when a kprobe recorded it, else null.</summary>
    public string? Domain { get; init; }

    /// <summary>How the report names the domain: the pointer, "device:NAME" or "unattributed-N".</summary>
    public required string DomainLabel { get; init; }

    public string? Device { get; init; }

    public required string Iova { get; init; }

    public required ulong Size { get; init; }

    public required string Paddr { get; init; }

    public required long MappedAtNs { get; init; }

    public required EventDto MappedBy { get; init; }

    /// <summary>kprobe, dma-event, inference or none.</summary>
    public required string Attribution { get; init; }

    /// <summary>When the mapping was unmapped (end of the exposure window); null while it stayed mapped to the end.</summary>
    public long? UnmappedAtNs { get; init; }

    public EventDto? UnmappedBy { get; init; }
}

internal sealed class OwnerDto
{
    public required string Pfn { get; init; }

    public required int Order { get; init; }

    public required string GfpFlags { get; init; }

    public required long AllocatedAtNs { get; init; }

    public required EventDto Allocation { get; init; }

    public long? FreedAtNs { get; init; }
}

internal sealed class LaterEventDto
{
    public required string Event { get; init; }

    public required long TimeNs { get; init; }

    public required int Cpu { get; init; }

    public required int Pid { get; init; }

    public required string Comm { get; init; }

    public required int Order { get; init; }
}

internal sealed class FindingDto
{
    public required string Kind { get; init; }

    public required string Message { get; init; }

    public string? Pfn { get; init; }

    public int? Order { get; init; }

    public required long TimeNs { get; init; }

    public required EventDto Event { get; init; }

    public required List<MappingDto> Mappings { get; init; }

    /// <summary>The mm_page_alloc that handed the page out; null when the trace never showed it (allocated before the trace).</summary>
    public OwnerDto? Owner { get; init; }

    public required bool OwnerSeen { get; init; }

    /// <summary>Exposure window: from the event to the unmap of the mapping, or null while it stayed mapped.</summary>
    public long? ExposureNs { get; init; }

    public required List<LaterEventDto> LaterEvents { get; init; }

    public required int LaterEventsTotal { get; init; }

    public required List<string> PossiblyAffectedBy { get; init; }

    public required List<string> Notes { get; init; }
}

internal sealed class AmbiguityDto
{
    public required EventDto Unmap { get; init; }

    public required string Iova { get; init; }

    public required ulong Size { get; init; }

    /// <summary>One candidate mapping per domain, each naming its page.</summary>
    public required List<MappingDto> Candidates { get; init; }

    public required List<string> CandidatePfns { get; init; }

    public required List<EventDto> PageEventsInDoubt { get; init; }

    public required int PageEventsInDoubtTotal { get; init; }

    public string? Resolution { get; init; }
}

internal sealed class DiagnosticDto
{
    public required string Kind { get; init; }

    /// <summary>info, data-loss or error.</summary>
    public required string Severity { get; init; }

    public int? Cpu { get; init; }

    public required long Count { get; init; }

    public long? FirstTimeNs { get; init; }

    public string? Location { get; init; }

    public required string Detail { get; init; }

    public required string Description { get; init; }
}

internal sealed class Statistics
{
    public required long Maps { get; init; }

    public required long Unmaps { get; init; }

    public required long PageAllocs { get; init; }

    public required long PageFrees { get; init; }

    public required long BatchedFreesFolded { get; init; }

    public required long AttributedByKprobe { get; init; }

    public required long AttributedByDmaEvent { get; init; }

    public required long AttributedByInference { get; init; }

    public required long Unattributed { get; init; }

    public required long UnmapsOfUnseenMappings { get; init; }

    public required long FreesWithoutAlloc { get; init; }

    public required long FailedMapUnwinds { get; init; }

    /// <summary>Unmaps inside a map call whose range no iommu:map announced (a map that failed half way; kprobes).</summary>
    public required long MapErrorPathUnmaps { get; init; }

    public required int Domains { get; init; }
}
