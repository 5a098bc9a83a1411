using System.Text;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Formats;

namespace IommuSan.Trace.Dat;

/// <summary>Where one CPU's ring-buffer data lies in the file (compressed or not).</summary>
internal readonly record struct CpuRegion(int Cpu, long Offset, long Size);

/// <summary>
/// Everything a trace.dat says before its ring-buffer data: byte order, long sizes, page and
/// sub-buffer size, compression, clock, event formats, saved cmdlines and where each CPU's data is.
/// Parsed once by <see cref="Read"/>; the per-version walks are in the .V6 and .V7 partial files.
/// </summary>
internal sealed partial class TraceDatMetadata
{
    private long _subBufferSizeAt;

    private TraceDatMetadata(DatFile file, DiagnosticBag diagnostics)
    {
        File = file;
        Diagnostics = diagnostics;
    }

    public DatFile File { get; }

    public DiagnosticBag Diagnostics { get; }

    /// <summary>6 or 7.</summary>
    public int Version { get; private set; }

    public bool BigEndian { get; private set; }

    /// <summary>sizeof(long) of the recording user space (the initial format's byte).</summary>
    public int FileLongSize { get; private set; }

    /// <summary>sizeof(long) of the kernel: the size of header_page's commit field.</summary>
    public int KernelLongSize { get; private set; }

    /// <summary>The traced machine's page size (initial format).</summary>
    public int PageSize { get; private set; }

    /// <summary>File offset of the page size field, for errors about its value.</summary>
    public long PageSizeAt { get; private set; }

    /// <summary>Bytes per ring-buffer sub-buffer (v7: the BUFFER option; v6: the page size).</summary>
    public int SubBufferSize { get; private set; }

    /// <summary>Offset of event data inside a sub-buffer (timestamp + commit).</summary>
    public int PageHeaderSize { get; private set; }

    /// <summary>"none", "zlib" or "zstd" (v6: always "none").</summary>
    public string Compression { get; private set; } = DatDecompressor.None;

    /// <summary>True when the per-CPU data is stored as compressed chunks.</summary>
    public bool CpuDataCompressed { get; private set; }

    /// <summary>The trace clock ("local", "x86-tsc", ...), if the file says.</summary>
    public string? Clock { get; private set; }

    public List<EventFormat> Formats { get; } = [];

    public Dictionary<int, string> Comms { get; } = [];

    /// <summary>The top-level buffer's CPUs with data, in file order.</summary>
    public List<CpuRegion> Cpus { get; } = [];

    /// <summary>CPUs on the traced machine (CPUCOUNT option or the v6 header), if known.</summary>
    public int? CpuCount { get; private set; }

    /// <summary>End of the last metadata byte read (for progress).</summary>
    public long MetadataEnd { get; private set; }

    /// <summary>Reads the metadata of a trace.dat (v6 or v7). Throws <see cref="TraceDataException"/> on bad input.</summary>
    public static TraceDatMetadata Read(DatFile file, DiagnosticBag diagnostics)
    {
        var meta = new TraceDatMetadata(file, diagnostics);
        var afterPrefix = meta.ReadInitialFormat();
        if (meta.Version == 6)
        {
            meta.ReadV6(afterPrefix);
        }
        else
        {
            meta.ReadV7(afterPrefix);
        }

        meta.Finish();
        return meta;
    }

    // Initial format (both docs): magic, "tracing", version "N\0", endian byte, long-size byte, u32 page size.
    private long ReadInitialFormat()
    {
        Span<byte> head = stackalloc byte[64];
        var n = File.ReadAtMost(0, head);
        var c = File.Cursor(head[..n], 0);
        if (n < TraceDatLayout.Magic.Length + TraceDatLayout.TracingTag.Length
            || !head[..3].SequenceEqual(TraceDatLayout.Magic) || !head[3..10].SequenceEqual(TraceDatLayout.TracingTag))
        {
            throw File.Error(0, "not a trace.dat file: expected the magic bytes 17 08 44 followed by \"tracing\"");
        }

        c.Skip(TraceDatLayout.Magic.Length + TraceDatLayout.TracingTag.Length, "magic");
        var versionAt = c.FileOffset;
        var version = c.ReadCString("file version string", TraceDatLayout.MaxVersionStringLength);
        Version = version switch
        {
            "6" => 6,
            "7" => 7,
            _ => throw File.Error(versionAt, $"unsupported trace.dat version \"{version}\" (expected 6 or 7)"),
        };

        var endianAt = c.FileOffset;
        var endian = c.ReadByte("endianness byte");
        if (endian is not (TraceDatLayout.EndianLittle or TraceDatLayout.EndianBig))
        {
            throw File.Error(endianAt, $"endianness byte is {endian}, expected 0 (little) or 1 (big)");
        }

        BigEndian = endian == TraceDatLayout.EndianBig;
        File.BigEndian = BigEndian;
        var longAt = c.FileOffset;
        FileLongSize = c.ReadByte("long size byte");
        if (FileLongSize is not (4 or 8))
        {
            throw File.Error(longAt, $"long size is {FileLongSize}, expected 4 or 8");
        }

        // Re-make the cursor now that the byte order is known (the page size is the first multi-byte number).
        var pageAt = c.FileOffset;
        var pc = File.Cursor(head[(int)pageAt..n], pageAt);
        var pageSize = pc.ReadUInt32("page size");
        if (pageSize < TraceDatLayout.MinSubBufferSize || pageSize > TraceDatLayout.MaxSubBufferSize || !uint.IsPow2(pageSize))
        {
            throw File.Error(pageAt, $"page size {pageSize} is not a power of two between {TraceDatLayout.MinSubBufferSize} and {TraceDatLayout.MaxSubBufferSize}");
        }

        PageSize = (int)pageSize;
        PageSizeAt = pageAt;
        SubBufferSize = PageSize;
        _subBufferSizeAt = pageAt;
        KernelLongSize = FileLongSize;
        return pc.FileOffset;
    }

    // header_page and header_event (v6 header, v7 HEADER INFO section): tag, u64 size, text; twice.
    private void ParseHeaderInfo(ref DatCursor c)
    {
        c.Expect(TraceDatLayout.HeaderPageTag, "header_page tag");
        var pageTextAt = c.FileOffset;
        var pageText = c.ReadBytes(c.ReadSize64("header_page size"), "header_page text");
        c.Expect(TraceDatLayout.HeaderEventTag, "header_event tag");
        var eventText = c.ReadBytes(c.ReadSize64("header_event size"), "header_event text");
        ApplyHeaderInfo(pageText, eventText, pageTextAt);
    }

    private void ApplyHeaderInfo(ReadOnlySpan<byte> pageText, ReadOnlySpan<byte> eventText, long at)
    {
        if (TraceDatText.ParseHeaderPage(Encoding.UTF8.GetString(pageText)) is { } layout)
        {
            KernelLongSize = layout.CommitSize;
            PageHeaderSize = layout.DataOffset;
        }
        else
        {
            // No usable header_page: the kernel's long is the file's (what trace-cmd assumes too).
            PageHeaderSize = TraceDatLayout.PageCommitOffset + FileLongSize;
        }

        // Kernels before 2.6.31 used a different event header ("type : 2 bits"); nothing we can replay has it.
        if (eventText.Length > 0 && eventText.IndexOf("type_len"u8) < 0)
        {
            throw File.Error(at, "header_event describes the pre-2.6.31 ring-buffer format, which is not supported");
        }
    }

    // Ftrace formats (v6 header, v7 section 17): u32 count, then u64 size + format text each; system "ftrace".
    private void ParseFtraceFormats(ref DatCursor c)
    {
        var count = c.ReadCount32("ftrace format count", 8);
        for (var i = 0; i < count; i++)
        {
            var at = c.FileOffset;
            var text = c.ReadBytes(c.ReadSize64("ftrace format size"), "ftrace format text");
            AddFormat("ftrace", text, at);
        }
    }

    // Event formats (v6 header, v7 section 18): u32 systems; per system a C string, u32 count, formats.
    private void ParseEventSystems(ref DatCursor c)
    {
        var systems = c.ReadCount32("event system count", 5);
        for (var s = 0; s < systems; s++)
        {
            var system = c.ReadCString("event system name", 256);
            var count = c.ReadCount32($"event count of system '{system}'", 8);
            for (var i = 0; i < count; i++)
            {
                var at = c.FileOffset;
                var text = c.ReadBytes(c.ReadSize64($"format size in system '{system}'"), "format text");
                AddFormat(system, text, at);
            }
        }
    }

    private void AddFormat(string system, ReadOnlySpan<byte> text, long at)
    {
        if (system.Length == 0)
        {
            throw File.Error(at, "event system with an empty name");
        }

        try
        {
            Formats.Add(FormatParser.Parse(system, Encoding.UTF8.GetString(text), KernelLongSize, BigEndian));
        }
        catch (FormatException e)
        {
            Diagnostics.Add(DiagnosticCatalog.UnparsableFormat, null, 1, null, $"byte {at}", $"system '{system}': {e.Message}");
        }
        catch (ArgumentException e)
        {
            Diagnostics.Add(DiagnosticCatalog.UnparsableFormat, null, 1, null, $"byte {at}", $"system '{system}': {e.Message}");
        }
    }

    private void SetClock(string? clock)
    {
        if (!string.IsNullOrEmpty(clock))
        {
            Clock = clock;
        }
    }

    private void Finish()
    {
        if (Clock is { } clock && !TraceDatText.IsNanosecondClock(clock))
        {
            Diagnostics.Add(DiagnosticCatalog.ClockNotNanoseconds, null, 1, null, null,
                $"trace clock '{clock}': timestamps are raw clock values");
        }

        if (PageHeaderSize == 0)
        {
            PageHeaderSize = TraceDatLayout.PageCommitOffset + KernelLongSize;
        }

        if (SubBufferSize <= PageHeaderSize + TraceDatLayout.EventHeaderSize)
        {
            throw File.Error(_subBufferSizeAt, $"sub-buffer size {SubBufferSize} leaves no room after the {PageHeaderSize}-byte page header");
        }

        foreach (var cpu in Cpus)
        {
            if (!File.Contains(cpu.Offset, cpu.Size))
            {
                throw File.Error(cpu.Offset,
                    $"ring-buffer data of {cpu.Size} bytes at byte {cpu.Offset} runs past the end of the file ({File.Length} bytes)", cpu.Cpu);
            }
        }
    }

    private void AddCpu(int cpu, ulong offset, ulong size, long at)
    {
        if (offset > long.MaxValue || size > long.MaxValue || !File.Contains((long)offset, (long)size))
        {
            throw File.Error(at, $"ring-buffer data of {size} bytes at byte {offset} runs past the end of the file ({File.Length} bytes)", cpu);
        }

        foreach (var existing in Cpus)
        {
            if (existing.Cpu == cpu)
            {
                throw File.Error(at, $"cpu {cpu} has two ring-buffer data entries", cpu);
            }
        }

        if (size > 0)
        {
            Cpus.Add(new CpuRegion(cpu, (long)offset, (long)size));
        }
    }

    private void NoteEnd(long offset) => MetadataEnd = Math.Max(MetadataEnd, offset);
}
