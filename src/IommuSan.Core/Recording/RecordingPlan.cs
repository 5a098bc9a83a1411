namespace IommuSan.Recording;

/// <summary>Whether to add kprobes: when possible, always (fail if impossible), or never.</summary>
internal enum KprobeMode
{
    Auto,
    Yes,
    No,
}

/// <summary>One kprobe event to add: its name in the kprobes group and its kprobe_events line.</summary>
internal readonly record struct KprobeDefinition(string Name, string Function, string Line)
{
    public string EventName => ProbeSpec.EventNameOf(Name);
}

/// <summary>
/// What to record on one kernel: the events that exist there and the kprobes whose functions
/// exist there, rendered for one architecture. Built from <see cref="TracefsFeatures"/> so the
/// same code serves a live machine and a fake tracefs in tests.
/// </summary>
internal sealed class RecordingPlan
{
    private RecordingPlan(IReadOnlyList<string> events, IReadOnlyList<KprobeDefinition> probes, IReadOnlyList<string> notes)
    {
        Events = events;
        Probes = probes;
        Notes = notes;
    }

    /// <summary>Tracepoints to enable: whole systems (<c>iommu</c>) or <c>system:event</c>.</summary>
    public IReadOnlyList<string> Events { get; }

    public IReadOnlyList<KprobeDefinition> Probes { get; }

    /// <summary>What the recording will lack on this kernel, in words a user can act on.</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <exception cref="InvalidOperationException">kprobes were required but cannot be added, or no event exists.</exception>
    public static RecordingPlan Create(TracefsFeatures features, KprobeArchitecture? arch, KprobeMode mode)
    {
        ArgumentNullException.ThrowIfNull(features);
        var events = new List<string>();
        var notes = new List<string>();
        foreach (var system in EventCatalog.Systems)
        {
            if (features.HasSystem(system))
            {
                events.Add(system);
            }
        }

        foreach (var e in EventCatalog.Events)
        {
            if (features.HasEvent(e))
            {
                events.Add(e);
            }
            else
            {
                notes.Add($"event {e} does not exist on this kernel");
            }
        }

        if (!features.HasSystem("iommu"))
        {
            notes.Add("no iommu:* events: the kernel lacks the IOMMU tracepoints (CONFIG_IOMMU_API) or tracefs is not the kernel's");
        }

        if (!features.HasSystem("dma"))
        {
            notes.Add("no dma:* events (they exist from Linux 6.12): device names come only from the iommu_dma_* kprobes");
        }

        if (events.Count == 0)
        {
            throw new InvalidOperationException($"{features.Root}: none of the iommu, dma or kmem events exist");
        }

        var probes = new List<KprobeDefinition>();
        if (mode != KprobeMode.No)
        {
            string? why = null;
            if (arch is null)
            {
                why = "no kprobe argument registers are known for this architecture";
            }
            else if (!features.HasKprobeEvents)
            {
                why = "the kernel has no kprobe_events (CONFIG_KPROBE_EVENTS)";
            }
            else if (!features.FunctionsReadable)
            {
                why = "available_filter_functions cannot be read, so no probed function can be shown to exist";
            }

            if (why is not null)
            {
                if (mode == KprobeMode.Yes)
                {
                    throw new InvalidOperationException($"cannot add kprobes: {why}");
                }

                notes.Add($"no kprobes: {why}; IOMMU maps and unmaps will carry no domain");
            }
            else
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var spec in ProbeCatalog.All)
                {
                    if (!seen.Contains(spec.Name) && features.HasFunction(spec.Function))
                    {
                        seen.Add(spec.Name);
                        probes.Add(new KprobeDefinition(spec.Name, spec.Function, spec.Render(arch!)));
                    }
                }

                if (!seen.Contains("__iommu_map") || !seen.Contains("__iommu_unmap"))
                {
                    notes.Add("neither __iommu_map nor iommu_map_nosync (or __iommu_unmap) can be probed: maps carry no domain");
                }
            }
        }

        return new RecordingPlan(events, probes, notes);
    }
}
