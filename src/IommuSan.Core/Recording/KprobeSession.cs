namespace IommuSan.Recording;

/// <summary>
/// Adds kprobe events to <c>kprobe_events</c> and removes exactly the ones it added when
/// disposed. A probe that already exists under the same name (someone else's, or left over) is
/// used as it is and left in place. Writes append: truncating kprobe_events would delete every
/// probe on the system.
/// </summary>
internal sealed class KprobeSession : IDisposable
{
    private readonly string _root;
    private readonly List<string> _added = [];
    private readonly List<string> _available = [];

    public KprobeSession(string root)
    {
        _root = root;
    }

    /// <summary>Names (in the kprobes group) this session created.</summary>
    public IReadOnlyList<string> Added => _added;

    /// <summary>Names usable for recording: created here or already present.</summary>
    public IReadOnlyList<string> Available => _available;

    private string KprobeEventsPath => Path.Combine(_root, "kprobe_events");

    /// <summary>Adds each definition; returns one message per probe that could not be added.</summary>
    public IReadOnlyList<string> AddAll(IEnumerable<KprobeDefinition> probes)
    {
        ArgumentNullException.ThrowIfNull(probes);
        var problems = new List<string>();
        var existing = ExistingNames();
        foreach (var probe in probes)
        {
            if (existing.Contains(probe.Name))
            {
                _available.Add(probe.Name);
                continue;
            }

            try
            {
                AppendLine(probe.Line);
                _added.Add(probe.Name);
                _available.Add(probe.Name);
            }
            catch (IOException ex)
            {
                // The kernel rejects a definition with EINVAL (e.g. a function that cannot be probed).
                problems.Add($"could not add kprobe `{probe.Line}`: {ex.Message}");
            }
        }

        return problems;
    }

    /// <summary>Names of the kprobes group's events already defined.</summary>
    private HashSet<string> ExistingNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (!File.Exists(KprobeEventsPath))
        {
            return names;
        }

        // Lines look like `p:kprobes/NAME FUNCTION args` or `r10:kprobes/NAME ...`.
        const string Marker = ":" + ProbeSpec.Group + "/";
        foreach (var line in File.ReadLines(KprobeEventsPath))
        {
            var start = line.IndexOf(Marker, StringComparison.Ordinal);
            if (start < 0)
            {
                continue;
            }

            start += Marker.Length;
            var end = line.IndexOf(' ', start);
            names.Add(end < 0 ? line[start..] : line[start..end]);
        }

        return names;
    }

    private void AppendLine(string line)
    {
        using var stream = new FileStream(KprobeEventsPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        using var writer = new StreamWriter(stream);
        writer.Write(line + "\n");
    }

    /// <summary>Disables (in the top-level buffer) and deletes every probe this session added.</summary>
    public void Dispose()
    {
        for (var i = _added.Count - 1; i >= 0; i--)
        {
            var name = _added[i];
            TryWrite(Path.Combine(_root, "events", ProbeSpec.Group, name, "enable"), "0");
            try
            {
                AppendLine("-:" + ProbeSpec.Group + "/" + name);
            }
            catch (IOException)
            {
                // Still enabled in some other instance: nothing more we can do here; the
                // command reports what is left in kprobe_events.
            }
        }

        _added.Clear();
    }

    private static void TryWrite(string path, string value)
    {
        try
        {
            if (File.Exists(path))
            {
                File.WriteAllText(path, value);
            }
        }
        catch (IOException)
        {
        }
    }
}
