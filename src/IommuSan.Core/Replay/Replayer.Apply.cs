using IommuSan.Findings;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Events;

namespace IommuSan.Replay;

/// <summary>Apply: drives the model with each event, in trace order, once its attribution is final.</summary>
internal sealed partial class Replayer
{
    /// <summary>
    /// The largest physically contiguous range one iommu:map is replayed for (64 GiB). Every CPU page of a
    /// map gets a page_ext counter (1 KiB of model memory per MiB mapped), so a corrupt size would cost
    /// time and memory in proportion to it: a fuzzed 1016 GiB map made the model allocate 1 GiB. Real
    /// calls are far smaller (dma-iommu maps one buffer or sg list; VFIO maps one physically contiguous
    /// run of pinned pages); a larger one is skipped with an implausible-range error, never silently.
    /// </summary>
    internal const ulong MaxReplayedMapSize = 1UL << 36;

    /// <summary>
    /// The largest IOVA range one iommu:unmap is replayed for: 2^57 bytes, the widest IOVA space any IOMMU
    /// offers (5-level VT-d). A larger one cannot have come from a real page table.
    /// </summary>
    internal const ulong MaxReplayedUnmapSize = 1UL << 57;

    private void Apply(ref PendingItem item)
    {
        ref readonly var e = ref item.Event;
        switch (e.Kind)
        {
            case CheckEventKind.IommuMap:
                ApplyMap(ref item);
                break;
            case CheckEventKind.IommuUnmap:
                ApplyUnmap(ref item);
                break;
            case CheckEventKind.PageAlloc:
                Statistics.PageAllocs++;
                if (e.Pfn == ulong.MaxValue)
                {
                    break; // failed allocation
                }

                // The allocator checks before it emits mm_page_alloc: the owner shown is the previous one.
                CheckPages(e, e.Pfn, e.Order);
                _owners.Allocated(e.Pfn, new PageOwnerEntry
                {
                    Order = e.Order, GfpFlags = e.GfpFlags, TimeNs = e.TimeNs, Cpu = e.Cpu, Pid = e.Pid, Comm = e.Comm, Name = e.Name,
                });
                Cpu(e.Cpu).ForgetFree(e.Pfn);
                break;
            case CheckEventKind.PageFree:
                Statistics.PageFrees++;
                CheckPages(e, e.Pfn, e.Order);
                if (!_owners.Freed(e.Pfn, e.TimeNs))
                {
                    Statistics.FreesWithoutAlloc++;
                }

                if (e.Order == 0)
                {
                    Cpu(e.Cpu).RememberFree(e.Pfn);
                }

                break;
            case CheckEventKind.PageFreeBatched:
                // 6.12 emits mm_page_free and then mm_page_free_batched for one batched free, not necessarily
                // adjacent (a run of frees, then the run of batched events): fold by pfn on the same CPU.
                if (Cpu(e.Cpu).TakeFree(e.Pfn))
                {
                    Statistics.BatchedFreesFolded++;
                    break;
                }

                Statistics.PageFrees++;
                CheckPages(e, e.Pfn, 0);
                if (!_owners.Freed(e.Pfn, e.TimeNs))
                {
                    Statistics.FreesWithoutAlloc++;
                }

                break;
            default:
                break;
        }
    }

    private DomainInfo? DomainOf(in PendingItem item) =>
        item.Domain >= 0 ? _domains[item.Domain] : item.Device is { } dev ? _domains.ForDevice(dev) : null;

    private void ApplyMap(ref PendingItem item)
    {
        ref readonly var e = ref item.Event;
        Statistics.Maps++;
        if (e.Size > MaxReplayedMapSize && e.Paddr != 0 && e.Paddr + e.Size >= e.Paddr)
        {
            // (A zero or overflowing paddr range still goes to the model: the sanitizer WARNs invalid-map
            // without walking it.)
            Diagnostics.Add(DiagnosticCatalog.ImplausibleRange, e.Cpu, 1, e.TimeNs, null,
                $"iommu:map iova=0x{e.Iova:x} paddr=0x{e.Paddr:x} size=0x{e.Size:x} at {TimeText(e.TimeNs)} maps more than 64 GiB in one call");
            return;
        }

        var domain = DomainOf(item);
        var source = item.Source;
        if (domain is null)
        {
            // No evidence within the window: an IOVA is live at most once per domain, so the map joins the
            // first unattributed domain where its IOVA is free.
            domain = _domains.UnattributedFor(e.Iova);
            source = AttributionSource.None;
            Statistics.Unattributed++;
            if (!Diagnostics.TryCountRepeat(DiagnosticCatalog.UnattributedMap, e.Cpu))
            {
                Diagnostics.Add(DiagnosticCatalog.UnattributedMap, e.Cpu, 1, e.TimeNs, null,
                    $"iommu:map iova=0x{e.Iova:x} size={e.Size} at {TimeText(e.TimeNs)} has no kprobe or dma event naming its domain");
            }
        }
        else
        {
            Count(source);
        }

        if (domain.LiveByIova.TryGetValue(e.Iova, out var existing))
        {
            ref var old = ref _mappings[existing];
            if (old.Ambiguity >= 0)
            {
                // A map of an IOVA still live in this domain proves the ambiguous unmap removed this domain's mapping.
                ResolveAmbiguity(old.Ambiguity, existing, $"iova 0x{e.Iova:x} was mapped again in {domain.Label} at {TimeText(e.TimeNs)}");
            }
            else
            {
                // The kernel refuses to map a live IOVA, so an unmap is missing (lost events or wrong attribution).
                if (!Diagnostics.TryCountRepeat(DiagnosticCatalog.MapOverLiveIova, e.Cpu))
                {
                    Diagnostics.Add(DiagnosticCatalog.MapOverLiveIova, e.Cpu, 1, e.TimeNs, null,
                        $"iommu:map iova=0x{e.Iova:x} at {TimeText(e.TimeNs)} while the IOVA was live in {domain.Label}; the earlier mapping is dropped");
                }

                var size = old.Size;
                UnmapInModel(domain, e, old.Iova, size, size, AttributionSource.Inference);
            }
        }

        _reports.Clear();
        _model.Map(domain.ModelHandle, e.Iova, e.Paddr, e.Size, _reports);
        OnMapReports(e, domain);
        if (e.Size == 0)
        {
            return;
        }

        var slot = _mappings.Add(new MappingRecord
        {
            Serial = ++_serial, Domain = domain.Id, Iova = e.Iova, Size = e.Size, Paddr = e.Paddr,
            TimeNs = e.TimeNs, Cpu = e.Cpu, Pid = e.Pid, Comm = e.Comm, Source = source, Ambiguity = -1,
        });
        domain.LiveByIova[e.Iova] = slot;
    }

    private void ApplyUnmap(ref PendingItem item)
    {
        ref readonly var e = ref item.Event;
        Statistics.Unmaps++;
        var span = Math.Max(e.Size, e.UnmappedSize);
        if (span > MaxReplayedUnmapSize || e.Iova + span < e.Iova)
        {
            Diagnostics.Add(DiagnosticCatalog.ImplausibleRange, e.Cpu, 1, e.TimeNs, null,
                $"iommu:unmap iova=0x{e.Iova:x} size=0x{e.Size:x} unmapped_size=0x{e.UnmappedSize:x} at {TimeText(e.TimeNs)} reaches beyond any IOVA space");
            return;
        }

        if (e.Size == 0 && e.UnmappedSize == 0)
        {
            // The error path of a failed map (6.12) unwinds what it mapped: nothing was counted, nothing to do.
            Statistics.FailedMapUnwinds++;
            return;
        }

        var domain = DomainOf(item);
        var source = item.Source;
        if (domain is not null && !HasLive(domain, e.Iova) && !domain.Unattributed)
        {
            // The map may have had no evidence: if exactly one unattributed domain holds the IOVA, it was this domain's.
            DomainInfo? adopted = null;
            foreach (var u in _domains.Unattributed)
            {
                if (HasLive(u, e.Iova))
                {
                    adopted = adopted is null ? u : null;
                    if (adopted is null)
                    {
                        break;
                    }
                }
            }

            if (adopted is not null)
            {
                if (item.Device is { } dev && adopted.Devices.Count == 0)
                {
                    adopted.Devices.Add(dev);
                }

                domain = adopted;
            }
        }

        if (domain is null)
        {
            // No evidence: the IOVA can be live only once per domain; if one domain has it, it is that one.
            _slots.Clear();
            DomainInfo? only = null;
            var candidates = 0;
            foreach (var d in _domains.All)
            {
                if (HasLive(d, e.Iova))
                {
                    candidates++;
                    only = d;
                }
            }

            if (candidates == 0)
            {
                NoteUnseenMapping(e);
                return;
            }

            if (candidates > 1)
            {
                OpenAmbiguity(e);
                return;
            }

            domain = only!;
            source = AttributionSource.Inference;
        }

        if (item.MapErrorPath && !HasLive(domain, e.Iova))
        {
            // A map failed half way and its error path unmaps the part already in the page table, which no
            // iommu:map announced and the sanitizer never counted. Linux 7.0.0 to 7.0.10 (CVE-2026-64152) ran
            // unmap_begin over it anyway: kernel mode reproduces that (the counts go below zero); precise mode
            // knows nothing was counted and leaves the counts alone.
            Statistics.MapErrorPathUnmaps++;
            if (_options.Mode != CheckMode.Kernel || e.UnmappedSize == 0)
            {
                return;
            }

            _model.MapPageTableOnly(domain.ModelHandle, e.Iova, item.MapErrorPaddr, e.UnmappedSize);
            _pendingNote = "the unmap is the error path of a map that failed half way (no iommu:map for this range): Linux 7.0.0 to 7.0.10 decremented counts the map never raised (CVE-2026-64152)";
        }
        else if (!HasLive(domain, e.Iova))
        {
            NoteUnseenMapping(e);
        }

        Count(source);
        UnmapInModel(domain, e, e.Iova, e.Size, e.UnmappedSize, source);
        _pendingNote = null;
    }

    private void NoteUnseenMapping(in CheckEvent e)
    {
        // Mappings made before the trace started show up only as unmaps: expected, never counted below zero.
        if (e.UnmappedSize > 0)
        {
            Statistics.UnmapsOfUnseenMappings++;
        }
    }

    /// <summary>unmap_begin, the mirror page table's unmap of what the trace says went, unmap_end; then the records.</summary>
    private void UnmapInModel(DomainInfo domain, in CheckEvent e, ulong iova, ulong size, ulong unmapped, AttributionSource source)
    {
        _reports.Clear();
        _model.Unmap(domain.ModelHandle, iova, size, unmapped, _reports);
        OnUnmapReports(e, domain, iova, size, unmapped);

        // The page table can remove a whole large page when asked for part of it (VT-d 2 MiB: unmap 4096,
        // unmapped 2097152): what went is the naturally aligned block of that size around iova.
        var start = iova;
        var length = unmapped;
        if (unmapped > size && ulong.IsPow2(unmapped))
        {
            start = iova & ~(unmapped - 1);
        }

        if (length == 0)
        {
            return;
        }

        var end = start + length < start ? ulong.MaxValue : start + length;
        RemoveRecords(domain, start, end, e);
    }

    private bool HasLive(DomainInfo domain, ulong iova) => domain.LiveByIova.TryFindCovering(iova, _mappings, out _);

    /// <summary>Removes (or trims) every record of <paramref name="domain"/> overlapping [start, end).</summary>
    private void RemoveRecords(DomainInfo domain, ulong start, ulong end, in CheckEvent unmap)
    {
        _slots.Clear();

        // Fast path: a chain of records starting exactly at start (one map, or the maps of a scatter-gather list).
        var cursor = start;
        while (cursor < end && domain.LiveByIova.TryGetValue(cursor, out var slot))
        {
            _slots.Add(slot);
            cursor = _mappings[slot].End;
        }

        if (cursor < end)
        {
            _slots.Clear();
            domain.LiveByIova.CollectOverlapping(start, end, _mappings, _slots);
        }

        foreach (var slot in _slots)
        {
            var r = _mappings[slot];
            domain.LiveByIova.Remove(r.Iova);
            _mappings.Remove(slot);
            OnRecordUnmapped(r, unmap);
            if (r.Iova < start)
            {
                AddPiece(domain, r, r.Iova, start - r.Iova);
            }

            if (r.End > end)
            {
                AddPiece(domain, r, end, r.End - end);
            }
        }
    }

    private void AddPiece(DomainInfo domain, in MappingRecord whole, ulong iova, ulong size)
    {
        var piece = whole;
        piece.Paddr = whole.Paddr + (iova - whole.Iova);
        piece.Iova = iova;
        piece.Size = size;
        domain.LiveByIova[iova] = _mappings.Add(piece);
    }

    private void Count(AttributionSource source)
    {
        switch (source)
        {
            case AttributionSource.Kprobe: Statistics.AttributedByKprobe++; break;
            case AttributionSource.DmaEvent: Statistics.AttributedByDmaEvent++; break;
            case AttributionSource.Inference: Statistics.AttributedByInference++; break;
            default: Statistics.Unattributed++; break;
        }
    }

    internal static string TimeText(long ns) => $"{ns / 1_000_000_000}.{ns % 1_000_000_000 / 1000:D6}";
}
