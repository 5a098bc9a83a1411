namespace IommuSan.Recording;

/// <summary>
/// What one kernel's tracefs offers: its events (<c>available_events</c>, one
/// <c>system:event</c> a line), the functions kprobes can attach to
/// (<c>available_filter_functions</c>, <c>name</c> or <c>name [module]</c> a line; a name may
/// repeat) and whether kprobe events can be added. The root is a parameter so tests can point
/// it at a directory of fake files.
/// </summary>
internal sealed class TracefsFeatures
{
    /// <summary>Where tracefs is usually mounted, newest convention first.</summary>
    public static IReadOnlyList<string> DefaultRoots { get; } = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

    private readonly HashSet<string> _events;
    private readonly HashSet<string> _systems;
    private readonly HashSet<string> _functions;

    private TracefsFeatures(string root, HashSet<string> events, HashSet<string> systems, HashSet<string> functions, bool functionsReadable, bool kprobeEvents)
    {
        FunctionsReadable = functionsReadable;
        Root = root;
        _events = events;
        _systems = systems;
        _functions = functions;
        HasKprobeEvents = kprobeEvents;
    }

    public string Root { get; }

    /// <summary><c>available_filter_functions</c> could be read (it is absent without the function tracer).</summary>
    public bool FunctionsReadable { get; }

    /// <summary>The kernel was built with kprobe events (a <c>kprobe_events</c> file exists).</summary>
    public bool HasKprobeEvents { get; }

    public bool HasEvent(string systemEvent) => _events.Contains(systemEvent);

    public bool HasSystem(string system) => _systems.Contains(system);

    public bool HasFunction(string name) => _functions.Contains(name);

    /// <summary>The first of <see cref="DefaultRoots"/> that holds <c>available_events</c>, or null.</summary>
    public static string? FindRoot()
    {
        foreach (var root in DefaultRoots)
        {
            if (File.Exists(Path.Combine(root, "available_events")))
            {
                return root;
            }
        }

        return null;
    }

    public static TracefsFeatures Load(string root)
    {
        var eventsFile = Path.Combine(root, "available_events");
        if (!File.Exists(eventsFile))
        {
            throw new IOException($"{root}: not a tracefs directory (no available_events); mount it with `mount -t tracefs nodev /sys/kernel/tracing`");
        }

        var events = new HashSet<string>(StringComparer.Ordinal);
        var systems = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(eventsFile))
        {
            var name = line.Trim();
            var colon = name.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            events.Add(name);
            systems.Add(name[..colon]);
        }

        var functions = new HashSet<string>(StringComparer.Ordinal);
        var functionsFile = Path.Combine(root, "available_filter_functions");
        var functionsReadable = false;
        try
        {
            foreach (var line in File.ReadLines(functionsFile))
            {
                var end = line.IndexOf(' ', StringComparison.Ordinal);
                var name = end < 0 ? line.Trim() : line[..end];
                if (name.Length > 0)
                {
                    functions.Add(name);
                }
            }

            functionsReadable = true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Missing without CONFIG_FUNCTION_TRACER, EPERM under lockdown or in some VMs:
            // then no function can be shown to exist and no kprobe is added.
        }

        return new TracefsFeatures(root, events, systems, functions, functionsReadable, File.Exists(Path.Combine(root, "kprobe_events")));
    }
}
