using IommuSan.Findings;
using IommuSan.Trace.Events;

namespace IommuSan.Replay;

/// <summary>Findings: turns the model's reports into findings with their evidence.</summary>
internal sealed partial class Replayer
{
    private readonly List<Finding> _findings = [];
    private readonly Dictionary<(long Serial, ulong Pfn), Finding> _leaks = [];
    private readonly Dictionary<long, MappingInfo> _infoBySerial = [];
    private readonly List<(MappingInfo Info, int Domain)> _infos = [];
    private readonly List<AmbiguityState> _ambiguities = [];
    private readonly List<(int Ambiguity, int Domain, long Serial)> _deferred = [];
    private readonly List<int> _covering = [];

    // A note for the findings of the unmap being applied (set around one UnmapInModel call).
    private string? _pendingNote;

    private void CheckPages(in CheckEvent e, ulong pfn, int order)
    {
        _reports.Clear();
        _model.CheckPages(pfn, 1UL << Math.Clamp(order, 0, 30), _reports);
        for (var i = 0; i < _reports.Count; i++)
        {
            if (_reports[i].Kind == SanitizerReportKind.PageLeak)
            {
                OnLeakingPage(_reports[i].Pfn, e, order);
            }
        }
    }

    private void OnLeakingPage(ulong pfn, in CheckEvent e, int order)
    {
        var pageStart = pfn << _pageShift;
        var pageEnd = pageStart + (1UL << _pageShift);
        _covering.Clear();
        var ambiguous = -1;
        _physHits.Clear();
        _mappings.CollectCoveringPhys(pageStart, pageEnd, _physHits);

        // Report order: by domain, then oldest mapping first.
        _physHits.Sort((a, b) => _mappings[a].Domain != _mappings[b].Domain
            ? _mappings[a].Domain.CompareTo(_mappings[b].Domain)
            : _mappings[a].Serial.CompareTo(_mappings[b].Serial));
        foreach (var slot in _physHits)
        {
            ref var r = ref _mappings[slot];
            if (r.Ambiguity >= 0)
            {
                ambiguous = r.Ambiguity;
            }
            else
            {
                _covering.Add(slot);
            }
        }

        if (_covering.Count == 0 && ambiguous >= 0)
        {
            // Only mappings an ambiguous unmap may have removed cover the page: the trace cannot prove a leak.
            var report = _ambiguities[ambiguous].Report;
            report.PageEventsInDoubtTotal++;
            if (report.PageEventsInDoubt.Count < _options.MaxLaterEvents)
            {
                report.PageEventsInDoubt.Add(Evidence(e));
            }

            return;
        }

        if (_covering.Count == 0)
        {
            // The model's count is not zero but no mapping the trace shows still covers the page: the kernel
            // semantics left a count behind (e.g. an unmap that removed more than it asked for).
            AddLeak((0, pfn), e, pfn, order, null, "the sanitizer's count for this page is not zero although no mapping in the trace still covers it (a count the kernel's own unmap accounting left behind)");
            return;
        }

        foreach (var slot in _covering)
        {
            ref var r = ref _mappings[slot];
            AddLeak((r.Serial, pfn), e, pfn, order, Info(slot), null);
        }
    }

    private void AddLeak((long Serial, ulong Pfn) key, in CheckEvent e, ulong pfn, int order, MappingInfo? mapping, string? note)
    {
        if (_leaks.TryGetValue(key, out var existing))
        {
            existing.LaterEventsTotal++;
            if (existing.LaterEvents.Count < _options.MaxLaterEvents)
            {
                existing.LaterEvents.Add(new LaterEvent(Evidence(e), order));
            }

            return;
        }

        var action = e.Kind == CheckEventKind.PageAlloc ? "allocated" : "freed";
        var where = mapping is null
            ? string.Empty
            : $" while mapped at iova 0x{mapping.Iova:x} in {mapping.Device ?? mapping.DomainLabel}";
        var finding = new Finding
        {
            Kind = FindingKind.PageLeak,
            Pfn = pfn,
            Order = order,
            Event = Evidence(e),
            Message = $"iommu: Detected page leak! pfn 0x{pfn:x} {action}{where}",
            Owner = Owner(pfn),
        };
        if (mapping is not null)
        {
            finding.Mappings.Add(mapping);
        }

        if (note is not null)
        {
            finding.Notes.Add(note);
        }

        _leaks[key] = finding;
        _findings.Add(finding);
    }

    private PageOwnerInfo? Owner(ulong pfn)
    {
        if (!_owners.TryGet(pfn, out var head, out var o))
        {
            return null;
        }

        var alloc = new EvidenceEvent(o.Name, o.TimeNs, o.Cpu, o.Pid, o.Comm, $"pfn=0x{head:x} order={o.Order} gfp_flags=0x{o.GfpFlags:x}");
        return new PageOwnerInfo(head, o.Order, o.GfpFlags, alloc, o.FreedAtNs == 0 ? null : o.FreedAtNs);
    }

    private MappingInfo Info(int slot)
    {
        ref var r = ref _mappings[slot];
        if (_infoBySerial.TryGetValue(r.Serial, out var info))
        {
            return info;
        }

        var d = _domains[r.Domain];
        info = new MappingInfo
        {
            Serial = r.Serial,
            DomainPointer = d.Pointer,
            DomainLabel = d.Label,
            Device = d.DeviceText,
            Iova = r.Iova,
            Size = r.Size,
            Paddr = r.Paddr,
            MappedBy = new EvidenceEvent("map", r.TimeNs, r.Cpu, r.Pid, r.Comm, $"iova=0x{r.Iova:x} paddr=0x{r.Paddr:x} size={r.Size}"),
            Attribution = r.Source,
        };
        _infoBySerial[r.Serial] = info;
        _infos.Add((info, r.Domain));
        return info;
    }

    private void OnRecordUnmapped(in MappingRecord r, in CheckEvent unmap)
    {
        if (_infoBySerial.TryGetValue(r.Serial, out var info) && info.UnmappedAtNs is null)
        {
            info.UnmappedAtNs = unmap.TimeNs;
            info.UnmappedBy = Evidence(unmap);
        }

        if (r.Ambiguity >= 0)
        {
            _deferred.Add((r.Ambiguity, r.Domain, r.Serial));
        }
    }

    private void OnMapReports(in CheckEvent e, DomainInfo domain)
    {
        foreach (var rep in _reports)
        {
            switch (rep.Kind)
            {
                case SanitizerReportKind.InvalidMap:
                    _findings.Add(new Finding
                    {
                        Kind = FindingKind.InvalidMap,
                        Event = Evidence(e),
                        Message = $"WARNING: iommu map of paddr 0x{e.Paddr:x} size {e.Size} in {domain.DeviceText ?? domain.Label}: {(e.Paddr == 0 ? "physical address 0" : "paddr + size overflows")}",
                    });
                    break;
                case SanitizerReportKind.CounterOverflow:
                    _findings.Add(new Finding
                    {
                        Kind = FindingKind.CounterOverflow,
                        Pfn = rep.Pfn,
                        Event = Evidence(e),
                        Message = $"WARNING: iommu mapping count of pfn 0x{rep.Pfn:x} overflowed (count {rep.Count})",
                    });
                    break;
                default:
                    break;
            }
        }

        RunDeferred();
    }

    private void OnUnmapReports(in CheckEvent e, DomainInfo domain, ulong iova, ulong size, ulong unmapped)
    {
        foreach (var rep in _reports)
        {
            switch (rep.Kind)
            {
                case SanitizerReportKind.UnbalancedUnmap:
                {
                    var finding = new Finding
                    {
                        Kind = FindingKind.UnbalancedUnmap,
                        Pfn = rep.Pfn,
                        Event = Evidence(e),
                        Message = $"WARNING: iommu unmap of iova 0x{iova:x} size {size} in {domain.DeviceText ?? domain.Label} takes the mapping count of pfn 0x{rep.Pfn:x} below zero",
                    };
                    if (_pendingNote is not null)
                    {
                        finding.Notes.Add(_pendingNote);
                    }

                    _findings.Add(finding);
                    break;
                }

                case SanitizerReportKind.UnmappedMoreThanRequested:
                    _findings.Add(new Finding
                    {
                        Kind = FindingKind.UnmappedMoreThanRequested,
                        Event = Evidence(e),
                        Message = $"WARNING: iommu unmap of iova 0x{iova:x} size {size} in {domain.DeviceText ?? domain.Label} unmapped {unmapped} bytes",
                    });
                    break;
                default:
                    break;
            }
        }
    }

    private void OpenAmbiguity(in CheckEvent e)
    {
        Statistics.AmbiguousUnmaps++;
        var index = _ambiguities.Count;
        var report = new Ambiguity { Unmap = Evidence(e), Iova = e.Iova, Size = e.UnmappedSize };
        var state = new AmbiguityState(report, e);
        foreach (var d in _domains.All)
        {
            if (d.LiveByIova.TryFindCovering(e.Iova, _mappings, out var slot))
            {
                ref var r = ref _mappings[slot];
                r.Ambiguity = index;
                state.Candidates.Add((d.Id, r.Serial));
                report.Candidates.Add(Info(slot));
                report.CandidatePfns.Add((r.Paddr + (e.Iova - r.Iova)) >> _pageShift);
            }
        }

        _ambiguities.Add(state);
        if (!Diagnostics.TryCountRepeat(Trace.Diagnostics.DiagnosticCatalog.AmbiguousUnmap, e.Cpu))
        {
            Diagnostics.Add(Trace.Diagnostics.DiagnosticCatalog.AmbiguousUnmap, e.Cpu, 1, e.TimeNs, null,
                $"iommu:unmap iova=0x{e.Iova:x} at {TimeText(e.TimeNs)} matches live mappings in {state.Candidates.Count} domains and no event says which");
        }
    }

    /// <summary>Evidence settled an ambiguity: the candidate <paramref name="goneSlot"/> is the mapping that went.</summary>
    private void ResolveAmbiguity(int index, int goneSlot, string reason)
    {
        var state = _ambiguities[index];
        if (!state.Open)
        {
            return;
        }

        var gone = _mappings[goneSlot];
        Close(state, reason);
        UnmapInModel(_domains[gone.Domain], state.Unmap, state.Unmap.Iova, state.Unmap.Size, state.Unmap.UnmappedSize, AttributionSource.Inference);
    }

    // A candidate was unmapped with evidence later, so the ambiguous unmap removed another one: if exactly one
    // other candidate is still live, it was that one.
    private void RunDeferred()
    {
        while (_deferred.Count > 0)
        {
            var (index, domain, serial) = _deferred[^1];
            _deferred.RemoveAt(_deferred.Count - 1);
            var state = _ambiguities[index];
            if (!state.Open)
            {
                continue;
            }

            (int Domain, long Serial)? other = null;
            var others = 0;
            foreach (var c in state.Candidates)
            {
                if ((c.Domain != domain || c.Serial != serial) && FindLive(c.Domain, c.Serial) >= 0)
                {
                    others++;
                    other = c;
                }
            }

            if (others == 1)
            {
                Close(state, $"the mapping in {_domains[domain].Label} was unmapped later with evidence, so the ambiguous unmap removed the one in {_domains[other!.Value.Domain].Label}");
                var e = state.Unmap;
                UnmapInModel(_domains[other.Value.Domain], e, e.Iova, e.Size, e.UnmappedSize, AttributionSource.Inference);
            }
        }
    }

    private void Close(AmbiguityState state, string reason)
    {
        state.Open = false;
        state.Report.Resolution = reason;
        foreach (var (domain, serial) in state.Candidates)
        {
            var slot = FindLive(domain, serial);
            if (slot >= 0)
            {
                _mappings[slot].Ambiguity = -1;
            }
        }
    }

    private int FindLive(int domain, long serial)
    {
        foreach (var slot in _domains[domain].LiveByIova.Values)
        {
            if (_mappings[slot].Serial == serial)
            {
                return slot;
            }
        }

        return -1;
    }

    private ReplayResult BuildResult()
    {
        RunDeferred();
        var live = new List<MappingInfo>();
        foreach (var d in _domains.All)
        {
            foreach (var slot in d.LiveByIova.Values)
            {
                live.Add(Info(slot));
            }
        }

        // Device names can be learnt after a mapping's finding was made: refresh them.
        foreach (var (info, domain) in _infos)
        {
            info.Device = _domains[domain].DeviceText;
        }

        live.Sort((a, b) => a.MappedBy.TimeNs != b.MappedBy.TimeNs ? a.MappedBy.TimeNs.CompareTo(b.MappedBy.TimeNs) : a.Serial.CompareTo(b.Serial));
        Statistics.Domains = _domains.All.Count;
        var ambiguities = new List<Ambiguity>(_ambiguities.Count);
        foreach (var a in _ambiguities)
        {
            ambiguities.Add(a.Report);
        }

        return new ReplayResult(_findings, live, ambiguities, Statistics, Diagnostics);
    }

    private static EvidenceEvent Evidence(in CheckEvent e) => new(e.Name, e.TimeNs, e.Cpu, e.Pid, e.Comm, Detail(e));

    internal static string Detail(in CheckEvent e) => e.Kind switch
    {
        CheckEventKind.PageAlloc => $"pfn=0x{e.Pfn:x} order={e.Order} gfp_flags=0x{e.GfpFlags:x}",
        CheckEventKind.PageFree => $"pfn=0x{e.Pfn:x} order={e.Order}",
        CheckEventKind.PageFreeBatched => $"pfn=0x{e.Pfn:x} order=0",
        CheckEventKind.IommuMap => $"iova=0x{e.Iova:x} paddr=0x{e.Paddr:x} size={e.Size}",
        CheckEventKind.IommuUnmap => $"iova=0x{e.Iova:x} size={e.Size} unmapped_size={e.UnmappedSize}",
        _ => string.Empty,
    };

    private sealed class AmbiguityState(Ambiguity report, CheckEvent unmap)
    {
        public Ambiguity Report { get; } = report;

        public CheckEvent Unmap { get; } = unmap;

        public List<(int Domain, long Serial)> Candidates { get; } = [];

        public bool Open { get; set; } = true;
    }
}

/// <summary>Everything a replay found.</summary>
internal sealed record ReplayResult(
    IReadOnlyList<Finding> Findings,
    IReadOnlyList<MappingInfo> LiveAtEnd,
    IReadOnlyList<Ambiguity> Ambiguities,
    ReplayStatistics Statistics,
    Trace.Diagnostics.DiagnosticBag Diagnostics);
