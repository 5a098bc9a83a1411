using System.Globalization;
using System.Text;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Formats;
using IommuSan.Trace.Formats.Builtin;

namespace IommuSan.Trace.Text;

/// <summary>
/// The events a text trace can be decoded into, looked up by the name the line prints
/// (<c>map</c>, or <c>iommu:map</c> in perf script): formats from the user's <c>--formats</c>
/// directory first, then the built-in ones, plus kprobe formats synthesised from the first line
/// that shows an unknown probe. Text traces do not print the event system, so a bare name is
/// resolved to the first format that has it (user formats win). Each decoding thread has its own
/// catalog (the decoders keep per-thread state); synthesised probe formats are shared through
/// <see cref="SynthesizedProbes"/> so every thread's events of one probe carry the same format.
/// Payload decoders are compiled on first use.
/// </summary>
internal sealed class TextEventCatalog
{
    /// <summary>The name tracefs prints for a trace_marker write in place of <c>print</c>.</summary>
    public const string TraceMarkerName = "tracing_mark_write";

    private readonly Dictionary<string, TextEventType> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TextEventType> _byQualifiedName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TextEventType>.AlternateLookup<ReadOnlySpan<char>> _byNameLookup;
    private readonly Dictionary<string, TextEventType>.AlternateLookup<ReadOnlySpan<char>> _byQualifiedLookup;
    private readonly List<EventFormat> _formats = [];
    private readonly SynthesizedProbes _probes;

    // "system:name" of unknown events and how many of their lines could not define a probe format.
    private const int MaxNotAProbe = 4096;
    private const int MaxNotAProbeKey = 160;
    private const int MaxProbeAttempts = 8;
    private readonly Dictionary<string, int> _notAProbe = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _notAProbeLookup;
    // A small memo of recent bare names as bytes: a trace uses a handful of events, so a line's name
    // is found by comparing bytes, without widening to chars or hashing a string.
    private const int NameMemoSize = 16;
    private const int MaxMemoNameLength = 64;
    private readonly byte[] _memoNames = new byte[NameMemoSize * MaxMemoNameLength];
    private readonly int[] _memoLengths = new int[NameMemoSize];
    private readonly TextEventType?[] _memoTypes = new TextEventType?[NameMemoSize];
    private int _memoLast;
    private int _memoNext;

    public TextEventCatalog(IEnumerable<EventFormat> userFormats, bool includeBuiltins = true, SynthesizedProbes? probes = null)
    {
        ArgumentNullException.ThrowIfNull(userFormats);
        _probes = probes ?? new SynthesizedProbes();
        _byNameLookup = _byName.GetAlternateLookup<ReadOnlySpan<char>>();
        _byQualifiedLookup = _byQualifiedName.GetAlternateLookup<ReadOnlySpan<char>>();
        _notAProbeLookup = _notAProbe.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var format in userFormats)
        {
            Add(format);
        }

        if (includeBuiltins)
        {
            foreach (var format in BuiltinFormats.All)
            {
                Add(format);
            }
        }
    }

    /// <summary>The user's and the built-in formats, then the probes synthesised so far (by any thread).</summary>
    public IReadOnlyCollection<EventFormat> Formats => [.. _formats, .. _probes.Snapshot()];

    public SynthesizedProbes Probes => _probes;

    /// <summary>Loads every format file under a tracefs-style <c>events/</c> directory
    /// (DIR/SYSTEM/EVENT/format) or a captures-style one (DIR/SYSTEM/EVENT.format).</summary>
    public static List<EventFormat> LoadDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"{directory}: formats directory not found");
        }

        var result = new List<EventFormat>();
        foreach (var systemDir in Directory.EnumerateDirectories(directory).Order(StringComparer.Ordinal))
        {
            var system = Path.GetFileName(systemDir);
            var files = Directory.EnumerateFiles(systemDir, "*.format")
                .Concat(Directory.EnumerateDirectories(systemDir).Select(d => Path.Combine(d, "format")).Where(File.Exists))
                .Order(StringComparer.Ordinal);
            foreach (var file in files)
            {
                try
                {
                    result.Add(FormatParser.Parse(system, File.ReadAllText(file)));
                }
                catch (FormatException ex)
                {
                    throw new TraceDataException(file, $"bad event format: {ex.Message}", inner: ex);
                }
            }
        }

        return result;
    }

    /// <summary>The event type a line's name refers to; <paramref name="system"/> is empty when the line prints none.</summary>
    public TextEventType? Find(ReadOnlySpan<byte> system, ReadOnlySpan<byte> name)
    {
        if (system.IsEmpty)
        {
            // Runs of the same event are common (page allocations, frees): the last hit first.
            if (_memoTypes[_memoLast] is { } last && name.SequenceEqual(MemoName(_memoLast)))
            {
                return last;
            }

            for (var i = 0; i < NameMemoSize; i++)
            {
                if (_memoTypes[i] is { } type && name.SequenceEqual(MemoName(i)))
                {
                    _memoLast = i;
                    return type;
                }
            }
        }

        var found = FindUncached(system, name);
        if (found is not null && system.IsEmpty && name.Length <= MaxMemoNameLength)
        {
            // Only hits are remembered: a miss may become a synthesised kprobe a moment later.
            _memoLast = _memoNext;
            _memoNext = (_memoNext + 1) % NameMemoSize;
            name.CopyTo(_memoNames.AsSpan(_memoLast * MaxMemoNameLength));
            _memoLengths[_memoLast] = name.Length;
            _memoTypes[_memoLast] = found;
        }

        return found;
    }

    private ReadOnlySpan<byte> MemoName(int slot) => _memoNames.AsSpan(slot * MaxMemoNameLength, _memoLengths[slot]);

    private TextEventType? FindUncached(ReadOnlySpan<byte> system, ReadOnlySpan<byte> name)
    {
        Span<char> chars = stackalloc char[128];
        if (system.Length + name.Length + 1 > chars.Length)
        {
            return null;
        }

        if (!system.IsEmpty)
        {
            var n = Encoding.UTF8.GetChars(system, chars);
            chars[n++] = ':';
            n += Encoding.UTF8.GetChars(name, chars[n..]);
            if (_byQualifiedLookup.TryGetValue(chars[..n], out var qualified))
            {
                return qualified;
            }
        }

        var length = Encoding.UTF8.GetChars(name, chars);
        return _byNameLookup.TryGetValue(chars[..length], out var type) ? type : null;
    }

    /// <summary>
    /// Makes a format for a kprobe/kretprobe that has no format file, from the printed
    /// <c>(location) name=value ...</c>: numbers become u64, quoted strings <c>__data_loc char[]</c>.
    /// Null when the body does not look like a probe.
    /// </summary>
    public TextEventType? SynthesizeProbe(ReadOnlySpan<byte> system, ReadOnlySpan<byte> name, ReadOnlySpan<byte> body)
    {
        // An unknown event whose text only starts like a probe (trace-cmd's "(symbol+off)" before kmem
        // events it has no format for) fails the same way on every line: after a few failed lines the
        // name is given up on, so each further line costs a lookup, not a parse and its strings. (A few,
        // not one: a probe's first line may be damaged.)
        Span<char> key = stackalloc char[MaxNotAProbeKey];
        var keyLength = system.Length + name.Length + 1;
        if (keyLength <= key.Length)
        {
            var n = Encoding.UTF8.GetChars(system, key);
            key[n++] = ':';
            keyLength = n + Encoding.UTF8.GetChars(name, key[n..]);
            if (_notAProbeLookup.TryGetValue(key[..keyLength], out var failures) && failures >= MaxProbeAttempts)
            {
                return null;
            }
        }

        var type = Synthesize(system, name, body);
        if (type is null && keyLength <= key.Length && (_notAProbe.Count < MaxNotAProbe || _notAProbeLookup.ContainsKey(key[..keyLength])))
        {
            _notAProbeLookup.TryGetValue(key[..keyLength], out var failures);
            _notAProbeLookup[key[..keyLength]] = failures + 1;
        }

        return type;
    }

    private TextEventType? Synthesize(ReadOnlySpan<byte> system, ReadOnlySpan<byte> name, ReadOnlySpan<byte> body)
    {
        if (_probes.Count >= SynthesizedProbes.MaxCount || body.IsEmpty || body[0] != '(' || name.IsEmpty || name.Length > 64)
        {
            return null;
        }

        var close = body.IndexOf((byte)')');
        if (close < 0)
        {
            return null;
        }

        var isReturn = body[..close].IndexOf(" <- "u8) >= 0;
        var eventName = Encoding.UTF8.GetString(name);
        if (!IsIdentifier(eventName))
        {
            return null;
        }

        var fields = new StringBuilder();
        var print = new StringBuilder(isReturn ? "\"(%lx <- %lx)" : "\"(%lx)");
        var args = new StringBuilder(isReturn ? ", REC->__probe_func, REC->__probe_ret_ip" : ", REC->__probe_ip");
        var offset = isReturn ? 24 : 16;
        var names = new HashSet<string>(StringComparer.Ordinal);
        var rest = body[(close + 1)..];
        while (true)
        {
            rest = rest.TrimStart((byte)' ');
            if (rest.IsEmpty)
            {
                break;
            }

            var eq = rest.IndexOf((byte)'=');
            if (eq <= 0)
            {
                return null;
            }

            var key = Encoding.UTF8.GetString(rest[..eq]);
            if (!IsIdentifier(key) || key.StartsWith("common_", StringComparison.Ordinal) || !names.Add(key))
            {
                return null;
            }

            var value = rest[(eq + 1)..];
            int valueLength;
            if (!value.IsEmpty && value[0] == '"')
            {
                var endQuote = value[1..].IndexOf((byte)'"');
                if (endQuote < 0)
                {
                    return null;
                }

                valueLength = endQuote + 2;
                fields.Append(CultureInfo.InvariantCulture, $"\tfield:__data_loc char[] {key};\toffset:{offset};\tsize:4;\tsigned:1;\n");
                print.Append(CultureInfo.InvariantCulture, $" {key}=\\\"%s\\\"");
                args.Append(CultureInfo.InvariantCulture, $", __get_str({key})");
                offset += 4;
            }
            else
            {
                valueLength = value.IndexOf((byte)' ');
                if (valueLength < 0)
                {
                    valueLength = value.Length;
                }

                if (!TextNumbers.TryParseInteger(value[..valueLength], 10, out _))
                {
                    return null;
                }

                fields.Append(CultureInfo.InvariantCulture, $"\tfield:u64 {key};\toffset:{offset};\tsize:8;\tsigned:0;\n");
                print.Append(CultureInfo.InvariantCulture, $" {key}=%Lu");
                args.Append(CultureInfo.InvariantCulture, $", REC->{key}");
                offset += 8;
            }

            rest = value[valueLength..];
        }

        var probeFields = isReturn
            ? "\tfield:unsigned long __probe_func;\toffset:8;\tsize:8;\tsigned:0;\n\tfield:unsigned long __probe_ret_ip;\toffset:16;\tsize:8;\tsigned:0;\n"
            : "\tfield:unsigned long __probe_ip;\toffset:8;\tsize:8;\tsigned:0;\n";
        var layout = "\nformat:\n"
            + "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
            + "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
            + "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
            + "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
            + probeFields + fields + $"\nprint fmt: {print}\"{args}\n";
        var group = system.IsEmpty ? "kprobes" : Encoding.UTF8.GetString(system);
        var format = _probes.GetOrAdd(group, eventName, id => FormatParser.Parse(group, $"name: {eventName}\nID: {id}{layout}"));
        return format is null ? null : Add(format, synthesized: true);
    }

    private TextEventType Add(EventFormat format, bool synthesized = false)
    {
        var qualified = $"{format.System}:{format.Name}";
        if (_byQualifiedName.TryGetValue(qualified, out var existing))
        {
            return existing;
        }

        if (!synthesized)
        {
            _formats.Add(format);
        }

        var type = new TextEventType(format, () => PrintTemplate.Compile(format));
        _byQualifiedName[qualified] = type;
        _byName.TryAdd(format.Name, type);
        if (format.System == "ftrace" && format.Name == "print" && format.IndexOf("buf") is var buf and >= 0)
        {
            // tracefs prints a marker write as "tracing_mark_write: TEXT": the ip's symbol, then the buffer.
            _byName.TryAdd(TraceMarkerName, new TextEventType(format, () => PrintTemplate.WholeBody(format, buf)));
        }

        return type;
    }

    private static bool IsIdentifier(string s)
    {
        foreach (var ch in s)
        {
            if (!(char.IsAsciiLetterOrDigit(ch) || ch == '_' || ch == '.'))
            {
                return false;
            }
        }

        return s.Length > 0;
    }
}

/// <summary>An event a text trace can name: its format and the decoder that rebuilds its payload (compiled on first use).</summary>
internal sealed class TextEventType(EventFormat format, Func<PrintTemplate> template)
{
    private TextPayloadDecoder? _decoder;

    public EventFormat Format { get; } = format;

    public TextPayloadDecoder Decoder => _decoder ??= new TextPayloadDecoder(template());

    /// <summary>Cache of "does the read's filter want this event" (0 unknown, 1 yes, 2 no); catalogs live for one read.</summary>
    public int FilterState { get; set; }
}

/// <summary>
/// Probe formats synthesised from text lines, shared by the catalogs of every decoding thread of
/// one read. A probe's event id is derived from its name (a stable hash into the range above the
/// kernel's ids), so the ids do not depend on which thread met a probe first.
/// </summary>
internal sealed class SynthesizedProbes
{
    /// <summary>Probes a trace may introduce without format files.</summary>
    public const int MaxCount = 4096;

    private const int FirstId = 60000;
    private const int IdRange = 65536 - FirstId;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, EventFormat> _byQualifiedName = new(StringComparer.Ordinal);
    private readonly List<EventFormat> _formats = [];
    private readonly HashSet<int> _ids = [];

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _formats.Count;
            }
        }
    }

    /// <summary>The probe's format, made by <paramref name="build"/> (given the id) the first time; null when the cap is reached.</summary>
    public EventFormat? GetOrAdd(string system, string name, Func<int, EventFormat> build)
    {
        var qualified = $"{system}:{name}";
        lock (_lock)
        {
            if (_byQualifiedName.TryGetValue(qualified, out var known))
            {
                return known;
            }

            if (_formats.Count >= MaxCount)
            {
                return null;
            }

            // FNV-1a of the qualified name; a collision takes the next free id.
            var hash = 2166136261u;
            foreach (var ch in qualified)
            {
                hash = (hash ^ ch) * 16777619u;
            }

            var id = FirstId + (int)(hash % IdRange);
            while (!_ids.Add(id))
            {
                id = id + 1 < 65536 ? id + 1 : FirstId;
            }

            var format = build(id);
            _byQualifiedName[qualified] = format;
            _formats.Add(format);
            return format;
        }
    }

    public EventFormat[] Snapshot()
    {
        lock (_lock)
        {
            return [.. _formats];
        }
    }
}
