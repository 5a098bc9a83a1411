using IommuSan.Findings;
using IommuSan.Trace.Events;

namespace IommuSan.Replay;

/// <summary>Attribution: which domain each iommu:map and iommu:unmap belongs to, best evidence first.</summary>
internal sealed partial class Replayer
{
    private void AttributeIommuEvent(in CheckEvent e)
    {
        var cpu = Cpu(e.Cpu);
        var item = new PendingItem { Event = e, Domain = -1 };

        // 1. A kprobe at the entry of the call that emits this event, on the same CPU, recorded the domain.
        if (cpu.TryFindProbe(e.Iova, e.TimeNs, out var pointer))
        {
            var domain = _domains.ForPointer(pointer);
            item.Domain = domain.Id;
            item.Source = AttributionSource.Kprobe;
            cpu.RememberRecent(new RecentIommuEvent { Pid = e.Pid, Iova = e.Iova, Domain = domain.Id, IsMap = e.Kind == CheckEventKind.IommuMap, TimeNs = e.TimeNs });
            if (e.Kind == CheckEventKind.IommuUnmap && cpu.TryFindOpenMap(e.Iova, e.TimeNs, out var map))
            {
                item.MapErrorPath = true;
                item.MapErrorPaddr = map.Paddr + (e.Iova - map.Iova);
            }

            if (e.Kind == CheckEventKind.IommuUnmap && cpu.LastUnmapSg is { Valid: true } named && named.Pid == e.Pid)
            {
                // The dma_unmap_sg just before this unmap names the kprobe domain's device.
                if (named.Device.Length > 0)
                {
                    _domains.AddDevice(domain, named.Device);
                }

                cpu.LastUnmapSg = default;
            }
        }
        else if (e.Kind == CheckEventKind.IommuUnmap && cpu.LastUnmapSg is { Valid: true } sg && sg.Pid == e.Pid
            && e.TimeNs - sg.TimeNs <= _options.AttributionWindowNs)
        {
            // 2b. dma_unmap_sg comes right BEFORE its iommu:unmap (it carries only physical addresses).
            item.Device = sg.Device;
            item.Source = AttributionSource.DmaEvent;
            cpu.LastUnmapSg = default;
        }

        if (e.Kind == CheckEventKind.IommuMap)
        {
            cpu.CompleteMaps(e.Iova, e.Size);
        }

        if (_queue.Count == 0 && !item.NeedsAttribution)
        {
            Apply(ref item);
            return;
        }

        var seq = _queue.Enqueue(item);
        if (item.NeedsAttribution)
        {
            cpu.Unresolved.Add(seq);
        }
    }

    // 2a. dma_map_page/_phys/_resource/_sg come AFTER their iommu:map(s), same CPU and task, not necessarily
    // adjacent: claim the most recent waiting map of this task at exactly the dma address (rounded down to the
    // IOMMU granule), then the maps continuing it (a scatter-gather list is one contiguous IOVA range).
    private void OnDmaMap(in CheckEvent e)
    {
        if (string.IsNullOrEmpty(e.Device) || e.SgEntries == 0 && e.Kind == CheckEventKind.DmaMapSg)
        {
            return;
        }

        var cpu = Cpu(e.Cpu);
        var start = AlignDown(e.DmaAddr);
        var end = e.Truncated ? ulong.MaxValue : AlignUp(e.DmaEnd);
        var cursor = start;
        var claimed = 0;
        while (cursor < end || claimed == 0)
        {
            if (!TryClaim(cpu, e.Pid, cursor, CheckEventKind.IommuMap, e.Device, out var next))
            {
                break;
            }

            claimed++;
            if (next <= cursor)
            {
                break;
            }

            cursor = next;
        }

        if (claimed == 0 && cpu.TryFindRecent(e.Pid, start, isMap: true, e.TimeNs, _options.AttributionWindowNs, out var domain))
        {
            // Already attributed by a kprobe: the dma event names the domain's device.
            _domains.AddDevice(_domains[domain], e.Device);
        }
    }

    // dma_unmap_page/_phys/_resource come right AFTER their iommu:unmap.
    private void OnDmaUnmap(in CheckEvent e)
    {
        if (string.IsNullOrEmpty(e.Device))
        {
            return;
        }

        var cpu = Cpu(e.Cpu);
        var start = AlignDown(e.DmaAddr);
        if (!TryClaim(cpu, e.Pid, start, CheckEventKind.IommuUnmap, e.Device, out _)
            && cpu.TryFindRecent(e.Pid, start, isMap: false, e.TimeNs, _options.AttributionWindowNs, out var domain))
        {
            _domains.AddDevice(_domains[domain], e.Device);
        }
    }

    private bool TryClaim(CpuState cpu, int pid, ulong iova, CheckEventKind kind, string device, out ulong end)
    {
        var list = cpu.Unresolved;
        for (var i = list.Count - 1; i >= 0; i--)
        {
            var seq = list[i];
            if (!_queue.Contains(seq))
            {
                list.RemoveAt(i);
                continue;
            }

            ref var item = ref _queue[seq];
            if (item.Event.Kind == kind && item.Event.Pid == pid && item.Event.Iova == iova && item.NeedsAttribution)
            {
                item.Device = device;
                item.Source = AttributionSource.DmaEvent;
                list.RemoveAt(i);
                end = item.Event.Iova + item.Event.Size;
                return true;
            }
        }

        end = 0;
        return false;
    }
}
