using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using ZstdSharp;

namespace IommuSan.Testing.TraceDat;

/// <summary>Compression of a written v7 file (v6 is never compressed).</summary>
internal enum DatCompression
{
    None,
    Zlib,
    Zstd,
}

/// <summary>One event format file as the kernel prints it, with its system ("ftrace" for ftrace's own events).</summary>
internal sealed record DatFormatText(string System, string Text);

/// <summary>One event to write: its CPU, timestamp (trace clock units) and raw payload (common fields first).</summary>
internal readonly record struct DatEvent(int Cpu, ulong Timestamp, ReadOnlyMemory<byte> Payload);

/// <summary>What the writer produces and how it encodes the ring buffer.</summary>
internal sealed class TraceDatWriterOptions
{
    /// <summary>6 or 7.</summary>
    public int Version { get; init; } = 7;

    /// <summary>v7 only.</summary>
    public DatCompression Compression { get; init; } = DatCompression.Zstd;

    public bool BigEndian { get; init; }

    /// <summary>sizeof(long), user space and kernel alike (4 or 8).</summary>
    public int LongSize { get; init; } = 8;

    /// <summary>The traced machine's page size (initial format).</summary>
    public int PageSize { get; init; } = 4096;

    /// <summary>v7: ring-buffer sub-buffer size when the kernel used a larger one (buffer_subbuf_size_kb); 0 = the page size.</summary>
    public int SubBufferSize { get; init; }

    public string Clock { get; init; } = "local";

    /// <summary>CPUs of the traced machine; events may use CPUs 0 .. CpuCount-1.</summary>
    public int CpuCount { get; init; } = 1;

    public IReadOnlyList<DatFormatText> Formats { get; init; } = [];

    /// <summary>Saved cmdlines: pid -> comm.</summary>
    public IReadOnlyDictionary<int, string> Comms { get; init; } = new Dictionary<int, string>();

    /// <summary>Sub-buffers per compressed chunk (trace-cmd writes 10).</summary>
    public int ChunkPages { get; init; } = 10;

    /// <summary>Encode every event with its length in array[0] (type_len 0), as 8-byte-aligned kernels do.</summary>
    public bool LengthInArrayAlways { get; init; }

    /// <summary>Every Nth event of a CPU is preceded by an absolute time stamp record (type 31); 0 never.</summary>
    public int AbsoluteTimeStampEvery { get; init; }

    /// <summary>Every Nth event of a CPU is preceded by a discarded event (type 29, non-zero delta); 0 never.</summary>
    public int DiscardedEventEvery { get; init; }

    /// <summary>(cpu, sub-buffer index) -> events lost before that sub-buffer; -1 means "missed, count not stored".</summary>
    public IReadOnlyDictionary<(int Cpu, int Page), long> LostEventsBeforePage { get; init; } = new Dictionary<(int, int), long>();

    /// <summary>v7: names of extra (empty) buffer instances to announce beside the top-level buffer.</summary>
    public IReadOnlyList<string> ExtraInstances { get; init; } = [];
}

/// <summary>Offsets of the parts of a written file, so tests can cut or corrupt it at exact places.</summary>
internal sealed class DatFileMap
{
    /// <summary>Start offsets of the file's parts, in file order ("header info section", "cpu0 data", ...).</summary>
    public List<(string Name, long Offset)> Boundaries { get; } = [];

    /// <summary>Length, count and size fields: name -> (offset, width in bytes).</summary>
    public Dictionary<string, (long Offset, int Width)> Fields { get; } = new(StringComparer.Ordinal);

    /// <summary>Per CPU: data offset and size as recorded in the file.</summary>
    public Dictionary<int, (long Offset, long Size)> CpuData { get; } = [];

    public long Length { get; set; }

    internal void Mark(string name, long offset) => Boundaries.Add((name, offset));

    internal void Field(string name, long offset, int width) => Fields[name] = (offset, width);
}

/// <summary>
/// Test-only trace.dat writer (v6 and v7; none/zlib/zstd; either byte order; 4- or 8-byte longs): turns
/// events into a file that IommuSan and Debian's <c>trace-cmd report</c> both read. The layout follows
/// trace-cmd's documents (trace-cmd.dat.v6.5 / v7.5) and what trace-cmd 3.1.6 writes: metadata sections,
/// an options section pointing at them, the flyrecord buffer section with page-aligned per-CPU data,
/// a last options section with the BUFFER option, and a strings section.
/// Each CPU's events are encoded into ring-buffer sub-buffers and streamed out, so a trace of millions
/// of events needs no more memory than one chunk.
/// </summary>
internal sealed class TraceDatWriter
{
    private const int SectionHeaderSize = 16;
    private const uint TimeDeltaMask = (1u << 27) - 1;
    private const int MaxSmallPayload = 28 * 4;
    private const ulong MissedEvents = 1UL << 31;
    private const ulong MissedStored = 1UL << 30;

    private readonly Stream _out;
    private readonly TraceDatWriterOptions _o;
    private readonly DatFileMap _map = new();
    private readonly List<byte> _strings = [];
    private readonly byte[] _scratch = new byte[8];

    private TraceDatWriter(Stream output, TraceDatWriterOptions options)
    {
        if (!output.CanSeek || !output.CanWrite)
        {
            throw new ArgumentException("the output must be writable and seekable", nameof(output));
        }

        if (options.Version is not (6 or 7) || options.LongSize is not (4 or 8) || options.CpuCount < 1
            || options.PageSize < 1024 || (options.PageSize & (options.PageSize - 1)) != 0)
        {
            throw new ArgumentException("unsupported writer options", nameof(options));
        }

        if (options.SubBufferSize != 0 && (options.Version == 6 || options.SubBufferSize < options.PageSize || (options.SubBufferSize & (options.SubBufferSize - 1)) != 0))
        {
            throw new ArgumentException("a separate sub-buffer size needs v7 and a power of two not below the page size", nameof(options));
        }

        if (options.Version == 6 && options.Compression != DatCompression.None)
        {
            throw new ArgumentException("v6 files are never compressed", nameof(options));
        }

        _out = output;
        _o = options;
    }

    private int HeaderSize => 8 + _o.LongSize;

    private int SubBufferSize => _o.SubBufferSize > 0 ? _o.SubBufferSize : _o.PageSize;

    private bool Compressed => _o.Compression != DatCompression.None;

    /// <summary>Writes events given in any order (grouped per CPU, stably sorted by time).</summary>
    public static DatFileMap Write(Stream output, TraceDatWriterOptions options, IEnumerable<DatEvent> events)
    {
        var perCpu = new Dictionary<int, List<DatEvent>>();
        foreach (var e in events)
        {
            if (!perCpu.TryGetValue(e.Cpu, out var list))
            {
                perCpu[e.Cpu] = list = [];
            }

            list.Add(e);
        }

        foreach (var list in perCpu.Values)
        {
            var sorted = list.OrderBy(e => e.Timestamp).ToList();
            list.Clear();
            list.AddRange(sorted);
        }

        return Write(output, options, cpu => perCpu.TryGetValue(cpu, out var l) ? l : []);
    }

    /// <summary>Writes each CPU's events, which must come in time order; they are streamed, never held.</summary>
    public static DatFileMap Write(Stream output, TraceDatWriterOptions options, Func<int, IEnumerable<DatEvent>> eventsOfCpu)
    {
        var w = new TraceDatWriter(output, options);
        if (options.Version == 6)
        {
            w.WriteV6(eventsOfCpu);
        }
        else
        {
            w.WriteV7(eventsOfCpu);
        }

        w._map.Length = output.Length;
        output.Flush();
        return w._map;
    }

    public static DatFileMap WriteFile(string path, TraceDatWriterOptions options, IEnumerable<DatEvent> events)
    {
        using var f = File.Create(path);
        return Write(f, options, events);
    }

    // ---------------------------------------------------------------- v6

    private void WriteV6(Func<int, IEnumerable<DatEvent>> eventsOfCpu)
    {
        WriteInitialFormat("6");
        _map.Mark("header info", _out.Position);
        _out.Write(HeaderInfoBlock(out var headerPageSizeAt));
        _map.Field("header_page size", _map.Boundaries[^1].Offset + headerPageSizeAt, 8);
        _map.Mark("ftrace formats", _out.Position);
        _map.Field("ftrace format count", _out.Position, 4);
        _out.Write(FtraceFormatsBlock());
        _map.Mark("event systems", _out.Position);
        _map.Field("event system count", _out.Position, 4);
        _out.Write(EventSystemsBlock());
        _map.Mark("kallsyms", _out.Position);
        _map.Field("kallsyms size", _out.Position, 4);
        W32(0);
        _map.Mark("printk formats", _out.Position);
        W32(0);
        _map.Mark("saved cmdlines", _out.Position);
        _map.Field("saved cmdlines size", _out.Position, 8);
        var cmdlines = CmdlinesText();
        W64((ulong)cmdlines.Length);
        _out.Write(cmdlines);
        _map.Mark("cpu count", _out.Position);
        _map.Field("cpu count", _out.Position, 4);
        W32((uint)_o.CpuCount);
        _map.Mark("options", _out.Position);
        _out.Write("options  \0"u8);
        WriteOption(4, TraceClockText());
        var cpuCount = new byte[4];
        Put32(cpuCount, (uint)_o.CpuCount);
        WriteOption(8, cpuCount);
        W16(0);
        _map.Mark("flyrecord", _out.Position);
        _out.Write("flyrecord\0"u8);
        var table = _out.Position;
        for (var cpu = 0; cpu < _o.CpuCount; cpu++)
        {
            _map.Field($"cpu{cpu} data offset", _out.Position, 8);
            W64(0);
            _map.Field($"cpu{cpu} data size", _out.Position, 8);
            W64(0);
        }

        _map.Mark("trace clock", _out.Position);
        var clock = Encoding.ASCII.GetBytes($"[{_o.Clock}]\0");
        W64((ulong)clock.Length);
        _out.Write(clock);

        var entries = WriteCpuData(eventsOfCpu, compressed: false);
        var end = _out.Position;
        _out.Position = table;
        foreach (var (offset, size) in entries)
        {
            W64((ulong)offset);
            W64((ulong)size);
        }

        _out.Position = end;
    }

    // ---------------------------------------------------------------- v7

    private void WriteV7(Func<int, IEnumerable<DatEvent>> eventsOfCpu)
    {
        WriteInitialFormat("7");
        var name = _o.Compression switch
        {
            DatCompression.Zlib => "zlib\0" + "1.2.13\0",
            DatCompression.Zstd => "zstd\0" + "1.5.4\0",
            _ => "none\0\0",
        };
        _out.Write(Encoding.ASCII.GetBytes(name));
        _map.Field("first options offset", _out.Position, 8);
        var firstOptionsAt = _out.Position;
        W64(0);

        var header = WriteSection(16, "headers", HeaderInfoBlock(out var headerPageSizeAt), Compressed);
        _map.Field("header_page size", header.DataAt + headerPageSizeAt, 8);
        var ftrace = WriteSection(17, "ftrace events", FtraceFormatsBlock(), Compressed);
        var formats = WriteSection(18, "events format", EventSystemsBlock(), Compressed);
        if (!Compressed)
        {
            _map.Field("event system count", formats.DataAt, 4);
        }

        var kallsyms = WriteSection(19, "kallsyms", new byte[4], Compressed);
        var printk = WriteSection(20, "printk", new byte[4], Compressed);
        var cmdlinesText = CmdlinesText();
        var cmdlinesBlock = new byte[8 + cmdlinesText.Length];
        Put64(cmdlinesBlock, (ulong)cmdlinesText.Length);
        cmdlinesText.CopyTo(cmdlinesBlock, 8);
        var cmdlines = WriteSection(21, "command lines", cmdlinesBlock, Compressed);

        // First options section: where the metadata sections are, the clock, the CPU count.
        var options1 = new MemoryStream();
        AddOption(options1, 16, Offset64(header.HeaderAt));
        AddOption(options1, 17, Offset64(ftrace.HeaderAt));
        AddOption(options1, 18, Offset64(formats.HeaderAt));
        AddOption(options1, 19, Offset64(kallsyms.HeaderAt));
        AddOption(options1, 20, Offset64(printk.HeaderAt));
        AddOption(options1, 21, Offset64(cmdlines.HeaderAt));
        AddOption(options1, 4, TraceClockText());
        var cpuCount = new byte[4];
        Put32(cpuCount, (uint)_o.CpuCount);
        AddOption(options1, 8, cpuCount);
        var doneAt = options1.Position + 6;
        AddOption(options1, 0, new byte[8]);
        var optionsBody = options1.ToArray();
        var opt1 = WriteSection(0, "options", optionsBody, compress: false);
        _map.Field("options DONE offset", opt1.DataAt + doneAt, 8);
        Patch64(firstOptionsAt, (ulong)opt1.HeaderAt);

        // The flyrecord buffer section: header, padding to a page boundary, then each CPU's data.
        var bufferAt = _out.Position;
        _map.Mark("buffer section", bufferAt);
        W16(3);
        W16((ushort)(Compressed ? 1 : 0));
        W32(AddString("buffer flyrecord "));
        _map.Field("buffer section size", _out.Position, 8);
        W64(0);
        var entries = WriteCpuData(eventsOfCpu, Compressed);
        var bufferEnd = _out.Position;
        Patch64(bufferAt + 8, (ulong)(bufferEnd - bufferAt - SectionHeaderSize));

        // Last options section: the BUFFER option of the top-level instance (and any extra instances).
        var options2 = new MemoryStream();
        AddOption(options2, 3, BufferOption(bufferAt, string.Empty, entries));
        foreach (var instance in _o.ExtraInstances)
        {
            AddOption(options2, 3, BufferOption(bufferAt, instance, []));
        }

        AddOption(options2, 0, new byte[8]);
        var opt2 = WriteSection(0, "options", options2.ToArray(), compress: false);
        _map.Field("buffer option size", opt2.DataAt + 2, 4);
        Patch64(opt1.DataAt + doneAt, (ulong)opt2.HeaderAt);

        WriteSection(15, "strings", AddStringAndGetAll("strings"), Compressed);
    }

    private byte[] BufferOption(long sectionAt, string instance, List<(long Offset, long Size)> entries)
    {
        var b = new MemoryStream();
        var tmp = new byte[8];
        Put64(tmp, (ulong)sectionAt);
        b.Write(tmp, 0, 8);
        b.Write(Encoding.ASCII.GetBytes(instance + "\0" + _o.Clock + "\0"));
        Put32(tmp, (uint)SubBufferSize);
        b.Write(tmp, 0, 4);
        Put32(tmp, (uint)entries.Count);
        b.Write(tmp, 0, 4);
        for (var cpu = 0; cpu < entries.Count; cpu++)
        {
            Put32(tmp, (uint)cpu);
            b.Write(tmp, 0, 4);
            Put64(tmp, (ulong)entries[cpu].Offset);
            b.Write(tmp, 0, 8);
            Put64(tmp, (ulong)entries[cpu].Size);
            b.Write(tmp, 0, 8);
        }

        return b.ToArray();
    }

    private (long HeaderAt, long DataAt) WriteSection(ushort id, string name, byte[] body, bool compress)
    {
        var headerAt = _out.Position;
        _map.Mark($"{name} section", headerAt);
        W16(id);
        W16((ushort)(compress ? 1 : 0));
        W32(AddString(name));
        var sizeAt = _out.Position;
        _map.Field($"{name} section size", sizeAt, 8);
        W64(0);
        var dataAt = _out.Position;
        if (compress)
        {
            var packed = Compress(body);
            _map.Field($"{name} compressed size", _out.Position, 4);
            W32((uint)packed.Length);
            _map.Field($"{name} uncompressed size", _out.Position, 4);
            W32((uint)body.Length);
            _out.Write(packed);
        }
        else
        {
            _out.Write(body);
        }

        Patch64(sizeAt, (ulong)(_out.Position - dataAt));
        return (headerAt, dataAt);
    }

    // ---------------------------------------------------------------- shared blocks

    private void WriteInitialFormat(string version)
    {
        _map.Mark("initial format", 0);
        _out.Write([0x17, 0x08, 0x44]);
        _out.Write("tracing"u8);
        _out.Write(Encoding.ASCII.GetBytes(version + "\0"));
        _out.WriteByte((byte)(_o.BigEndian ? 1 : 0));
        _out.WriteByte((byte)_o.LongSize);
        _map.Field("page size", _out.Position, 4);
        W32((uint)_o.PageSize);
    }

    private byte[] HeaderInfoBlock(out long headerPageSizeAt)
    {
        var l = _o.LongSize;
        var page = Encoding.ASCII.GetBytes(
            "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n" +
            $"\tfield: local_t commit;\toffset:8;\tsize:{l};\tsigned:1;\n" +
            "\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n" +
            $"\tfield: char data;\toffset:{8 + l};\tsize:{SubBufferSize - 8 - l};\tsigned:0;\n");
        var ev = Encoding.ASCII.GetBytes(
            "# compressed entry header\n\ttype_len    :    5 bits\n\ttime_delta  :   27 bits\n\tarray       :   32 bits\n\n" +
            "\tpadding     : type == 29\n\ttime_extend : type == 30\n\ttime_stamp : type == 31\n\tdata max type_len  == 28\n");
        var b = new MemoryStream();
        var tmp = new byte[8];
        b.Write("header_page\0"u8);
        headerPageSizeAt = b.Position;
        Put64(tmp, (ulong)page.Length);
        b.Write(tmp);
        b.Write(page);
        b.Write("header_event\0"u8);
        Put64(tmp, (ulong)ev.Length);
        b.Write(tmp);
        b.Write(ev);
        return b.ToArray();
    }

    private byte[] FtraceFormatsBlock()
    {
        var b = new MemoryStream();
        WriteFormatList(b, [.. _o.Formats.Where(f => f.System == "ftrace")]);
        return b.ToArray();
    }

    // u32 count, then each format file as u64 size + text (the ftrace and per-system lists share it).
    private void WriteFormatList(MemoryStream b, IReadOnlyCollection<DatFormatText> formats)
    {
        var tmp = new byte[8];
        Put32(tmp, (uint)formats.Count);
        b.Write(tmp, 0, 4);
        foreach (var f in formats)
        {
            var text = Encoding.UTF8.GetBytes(f.Text);
            Put64(tmp, (ulong)text.Length);
            b.Write(tmp);
            b.Write(text);
        }
    }

    private byte[] EventSystemsBlock()
    {
        var systems = _o.Formats.Where(f => f.System != "ftrace").GroupBy(f => f.System, StringComparer.Ordinal).ToList();
        var b = new MemoryStream();
        var tmp = new byte[8];
        Put32(tmp, (uint)systems.Count);
        b.Write(tmp, 0, 4);
        foreach (var system in systems)
        {
            b.Write(Encoding.ASCII.GetBytes(system.Key + "\0"));
            WriteFormatList(b, [.. system]);
        }

        return b.ToArray();
    }

    private byte[] CmdlinesText()
    {
        var sb = new StringBuilder();
        foreach (var (pid, comm) in _o.Comms.OrderBy(p => p.Key))
        {
            sb.Append(pid).Append(' ').Append(comm).Append('\n');
        }

        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private byte[] TraceClockText()
    {
        var clocks = new[] { "local", "global", "counter", "uptime", "perf", "mono", "mono_raw", "boot", "tai", "x86-tsc" };
        var text = string.Join(' ', clocks.Select(c => c == _o.Clock ? $"[{c}]" : c));
        if (!clocks.Contains(_o.Clock))
        {
            text = $"[{_o.Clock}] " + text;
        }

        return Encoding.ASCII.GetBytes(text + "\n\0");
    }

    private void WriteOption(ushort id, byte[] data)
    {
        W16(id);
        W32((uint)data.Length);
        _out.Write(data);
    }

    private void AddOption(MemoryStream s, ushort id, byte[] data)
    {
        var tmp = new byte[8];
        Put16(tmp, id);
        s.Write(tmp, 0, 2);
        Put32(tmp, (uint)data.Length);
        s.Write(tmp, 0, 4);
        s.Write(data);
    }

    private byte[] Offset64(long offset)
    {
        var b = new byte[8];
        Put64(b, (ulong)offset);
        return b;
    }

    private uint AddString(string s)
    {
        var at = (uint)_strings.Count;
        _strings.AddRange(Encoding.ASCII.GetBytes(s + "\0"));
        return at;
    }

    private byte[] AddStringAndGetAll(string s)
    {
        AddString(s);
        return [.. _strings];
    }

    // ---------------------------------------------------------------- ring-buffer data

    private List<(long Offset, long Size)> WriteCpuData(Func<int, IEnumerable<DatEvent>> eventsOfCpu, bool compressed)
    {
        var entries = new List<(long, long)>();
        for (var cpu = 0; cpu < _o.CpuCount; cpu++)
        {
            _out.Position = AlignUp(_out.Position, _o.PageSize);
            var start = _out.Position;
            _map.Mark($"cpu{cpu} data", start);
            var sink = compressed ? (IPageSink)new ChunkSink(this, cpu) : new RawSink(this);
            var pages = new PageEncoder(this, cpu, sink);
            foreach (var e in eventsOfCpu(cpu))
            {
                if (e.Cpu != cpu)
                {
                    throw new ArgumentException($"event for cpu {e.Cpu} given as cpu {cpu}'s");
                }

                pages.Add(e);
            }

            pages.Finish();
            sink.Finish();
            var size = _out.Position - start;

            // trace-cmd 3.1.6 records compressed data's size without the u32 chunk count in front.
            if (compressed)
            {
                size -= 4;
            }

            if (pages.PageCount == 0 && !compressed)
            {
                size = 0;
            }

            entries.Add((start, size));
            _map.CpuData[cpu] = (start, size);
        }

        return entries;
    }

    private interface IPageSink
    {
        void Page(byte[] page);

        void Finish();
    }

    private sealed class RawSink(TraceDatWriter w) : IPageSink
    {
        public void Page(byte[] page) => w._out.Write(page);

        public void Finish()
        {
        }
    }

    /// <summary>Compressed data: u32 chunk count, then {u32 compressed, u32 uncompressed, data} per chunk of pages.</summary>
    private sealed class ChunkSink : IPageSink
    {
        private readonly TraceDatWriter _w;
        private readonly int _cpu;
        private readonly long _countAt;
        private readonly byte[] _chunk;
        private int _used;
        private uint _chunks;

        public ChunkSink(TraceDatWriter w, int cpu)
        {
            _w = w;
            _cpu = cpu;
            _countAt = w._out.Position;
            w._map.Field($"cpu{cpu} chunk count", _countAt, 4);
            w.W32(0);
            _chunk = new byte[w.SubBufferSize * Math.Max(1, w._o.ChunkPages)];
        }

        public void Page(byte[] page)
        {
            page.CopyTo(_chunk, _used);
            _used += page.Length;
            if (_used == _chunk.Length)
            {
                Flush();
            }
        }

        public void Finish()
        {
            Flush();
            var end = _w._out.Position;
            _w.Patch32(_countAt, _chunks);
            _w._out.Position = end;
        }

        private void Flush()
        {
            if (_used == 0)
            {
                return;
            }

            var packed = _w.Compress(_chunk.AsSpan(0, _used).ToArray());
            if (_chunks == 0)
            {
                _w._map.Field($"cpu{_cpu} first chunk compressed size", _w._out.Position, 4);
                _w._map.Field($"cpu{_cpu} first chunk uncompressed size", _w._out.Position + 4, 4);
                _w._map.Field($"cpu{_cpu} first chunk data", _w._out.Position + 8, 4);
            }

            _w.W32((uint)packed.Length);
            _w.W32((uint)_used);
            _w._out.Write(packed);
            _chunks++;
            _used = 0;
        }
    }

    /// <summary>Packs one CPU's events into sub-buffers: page header, then event headers and payloads.</summary>
    private sealed class PageEncoder(TraceDatWriter w, int cpu, IPageSink sink)
    {
        private readonly byte[] _page = new byte[w.SubBufferSize];
        private bool _open;
        private int _pos;
        private int _limit;
        private ulong _time;
        private long _eventIndex;
        private ulong _lostCount;
        private bool _lost;
        private bool _lostStored;

        public int PageCount { get; private set; }

        public void Add(DatEvent e)
        {
            var payload = e.Payload.Span;
            var length = (payload.Length + 3) & ~3;
            var lengthInArray = w._o.LengthInArrayAlways || length > MaxSmallPayload || length == 0;
            var eventSize = (lengthInArray ? 8 : 4) + length;
            if (eventSize > w.SubBufferSize - w.HeaderSize - 8 - w._o.LongSize)
            {
                throw new ArgumentException($"a {payload.Length}-byte payload does not fit a {w.SubBufferSize}-byte sub-buffer");
            }

            _eventIndex++;
            if (_open && e.Timestamp < _time)
            {
                throw new ArgumentException($"cpu {cpu}: events must come in time order ({e.Timestamp} after {_time})");
            }

            var absolute = _open && w._o.AbsoluteTimeStampEvery > 0 && _eventIndex % w._o.AbsoluteTimeStampEvery == 0;
            var delta = _open ? e.Timestamp - _time : 0;
            var discard = _open && !absolute && w._o.DiscardedEventEvery > 0 && _eventIndex % w._o.DiscardedEventEvery == 0
                && delta is > 0 and <= TimeDeltaMask;
            var extend = !absolute && !discard && delta > TimeDeltaMask;
            var extra = absolute || extend ? 8 : discard ? 16 : 0;
            if (!_open || _pos + extra + eventSize > _limit)
            {
                FinishPage();
                OpenPage(e.Timestamp);
                absolute = discard = extend = false;
                delta = 0;
                extra = 0;
            }

            if (absolute)
            {
                Header(31, (uint)(e.Timestamp & TimeDeltaMask));
                Word((uint)(e.Timestamp >> 27));
                delta = 0;
            }
            else if (extend)
            {
                Header(30, (uint)(delta & TimeDeltaMask));
                Word((uint)(delta >> 27));
                delta = 0;
            }
            else if (discard)
            {
                // A discarded event: padding with a non-zero delta; array[0] is the length after the header
                // (itself plus 8 bytes of leftover data), as the kernel's rb_event_discard leaves it.
                Header(29, (uint)delta);
                Word(12);
                Word(0xdeadbeef);
                Word(0xdeadbeef);
                delta = 0;
            }

            if (lengthInArray)
            {
                Header(0, (uint)delta);
                Word((uint)(length + 4));
            }
            else
            {
                Header((uint)(length / 4), (uint)delta);
            }

            payload.CopyTo(_page.AsSpan(_pos));
            _page.AsSpan(_pos + payload.Length, length - payload.Length).Clear();
            _pos += length;
            _time = e.Timestamp;
        }

        public void Finish() => FinishPage();

        private void OpenPage(ulong time)
        {
            Array.Clear(_page);
            _open = true;
            _time = time;
            w.Put64(_page, time);
            _pos = w.HeaderSize;
            _limit = w.SubBufferSize;
            _lost = w._o.LostEventsBeforePage.TryGetValue((cpu, PageCount), out var lost);
            _lostStored = _lost && lost >= 0;
            _lostCount = _lostStored ? (ulong)lost : 0;
            if (_lostStored)
            {
                _limit -= w._o.LongSize;
            }
        }

        private void FinishPage()
        {
            if (!_open)
            {
                return;
            }

            var dataLength = (ulong)(_pos - w.HeaderSize);
            var commit = dataLength | (_lost ? MissedEvents : 0) | (_lostStored ? MissedStored : 0);
            PutLong(8, commit);
            if (_lostStored)
            {
                PutLong(_pos, _lostCount);
            }

            sink.Page(_page);
            PageCount++;
            _open = false;
        }

        private void Header(uint typeLen, uint delta)
        {
            var word = w._o.BigEndian ? (typeLen << 27) | (delta & TimeDeltaMask) : typeLen | (delta << 5);
            Word(word);
        }

        private void Word(uint value)
        {
            w.Put32(_page.AsSpan(_pos), value);
            _pos += 4;
        }

        private void PutLong(int at, ulong value)
        {
            if (w._o.LongSize == 8)
            {
                w.Put64(_page.AsSpan(at), value);
            }
            else
            {
                w.Put32(_page.AsSpan(at), (uint)value);
            }
        }
    }

    // ---------------------------------------------------------------- primitives

    private byte[] Compress(byte[] data)
    {
        switch (_o.Compression)
        {
            case DatCompression.Zlib:
                var ms = new MemoryStream();
                using (var z = new ZLibStream(ms, CompressionLevel.Fastest, leaveOpen: true))
                {
                    z.Write(data);
                }

                return ms.ToArray();
            case DatCompression.Zstd:
                using (var zstd = new Compressor(3))
                {
                    return zstd.Wrap(data).ToArray();
                }

            default:
                throw new InvalidOperationException("no compression configured");
        }
    }

    private static long AlignUp(long value, int alignment) => (value + alignment - 1) / alignment * alignment;

    private void Put16(Span<byte> b, ushort v)
    {
        if (_o.BigEndian)
        {
            BinaryPrimitives.WriteUInt16BigEndian(b, v);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        }
    }

    private void Put32(Span<byte> b, uint v)
    {
        if (_o.BigEndian)
        {
            BinaryPrimitives.WriteUInt32BigEndian(b, v);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        }
    }

    private void Put64(Span<byte> b, ulong v)
    {
        if (_o.BigEndian)
        {
            BinaryPrimitives.WriteUInt64BigEndian(b, v);
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        }
    }

    private void W16(ushort v)
    {
        Put16(_scratch, v);
        _out.Write(_scratch, 0, 2);
    }

    private void W32(uint v)
    {
        Put32(_scratch, v);
        _out.Write(_scratch, 0, 4);
    }

    private void W64(ulong v)
    {
        Put64(_scratch, v);
        _out.Write(_scratch, 0, 8);
    }

    private void Patch32(long at, uint v)
    {
        var end = _out.Position;
        _out.Position = at;
        W32(v);
        _out.Position = end;
    }

    private void Patch64(long at, ulong v)
    {
        var end = _out.Position;
        _out.Position = at;
        W64(v);
        _out.Position = end;
    }
}
