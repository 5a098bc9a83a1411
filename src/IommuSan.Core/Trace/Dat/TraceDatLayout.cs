namespace IommuSan.Trace.Dat;

/// <summary>
/// Byte layouts of trace-cmd's trace.dat, versions 6 and 7, as named constants.
/// Sources: trace-cmd Documentation/trace-cmd/trace-cmd.dat.v6.5.txt ("v6 doc") and
/// trace-cmd.dat.v7.5.txt ("v7 doc"); the ring-buffer page and event header from libtraceevent's
/// kbuffer-parse.c and the kernel's include/linux/ring_buffer.h, confirmed against the
/// tracefs files <c>events/header_page</c> and <c>events/header_event</c> stored in every file.
/// </summary>
internal static class TraceDatLayout
{
    // ---- Initial format (both versions; "INITIAL FORMAT" in both docs) ----

    /// <summary>The first three bytes: 0x17 0x08 0x44.</summary>
    public static ReadOnlySpan<byte> Magic => [0x17, 0x08, 0x44];

    /// <summary>The next 7 bytes: "tracing".</summary>
    public static ReadOnlySpan<byte> TracingTag => "tracing"u8;

    /// <summary>The version string ("6" or "7") is NUL-terminated; anything longer is not a trace.dat.</summary>
    public const int MaxVersionStringLength = 8;

    /// <summary>After the version string: 1 byte endianness (0 little, 1 big).</summary>
    public const byte EndianLittle = 0;

    public const byte EndianBig = 1;

    // ---- v6 fixed-order header (v6 doc "HEADER INFO FORMAT" .. "REST OF TRACE-CMD HEADER") ----

    /// <summary>"header_page\0": 12 bytes, then u64 size and the tracefs header_page text.</summary>
    public static ReadOnlySpan<byte> HeaderPageTag => "header_page\0"u8;

    /// <summary>"header_event\0": 13 bytes, then u64 size and the tracefs header_event text.</summary>
    public static ReadOnlySpan<byte> HeaderEventTag => "header_event\0"u8;

    /// <summary>The 10-byte tags after the CPU count: "options  \0", "latency  \0", "flyrecord\0".</summary>
    public const int V6TagLength = 10;

    public static ReadOnlySpan<byte> V6OptionsTag => "options  \0"u8;

    public static ReadOnlySpan<byte> V6LatencyTag => "latency  \0"u8;

    public static ReadOnlySpan<byte> V6FlyrecordTag => "flyrecord\0"u8;

    /// <summary>v6 flyrecord: per CPU a u64 offset and a u64 size.</summary>
    public const int V6CpuEntrySize = 8 + 8;

    // ---- v7 sections (v7 doc "FORMAT OF THE SECTION HEADER") ----

    /// <summary>Section header: u16 id, u16 flags, u32 description string id, u64 size.
    /// (The v7 doc's first revision said a 4-byte size; trace-cmd 3.x writes 8, as the files show.)</summary>
    public const int SectionIdOffset = 0;

    public const int SectionFlagsOffset = SectionIdOffset + 2;

    public const int SectionStringIdOffset = SectionFlagsOffset + 2;

    public const int SectionSizeOffset = SectionStringIdOffset + 4;

    public const int SectionHeaderSize = SectionSizeOffset + 8;

    /// <summary>Section flag 1: the section is compressed.</summary>
    public const ushort SectionFlagCompressed = 1;

    /// <summary>Compressed non-data section: u32 compressed size, u32 uncompressed size, data
    /// (v7 doc "COMPRESSION FORMAT OF THE FILE SECTIONS").</summary>
    public const int CompressedBlockHeaderSize = 4 + 4;

    /// <summary>Compressed trace data: u32 chunk count, then chunks {u32 compressed, u32 uncompressed, data}
    /// (v7 doc "COMPRESSION FORMAT OF THE TRACE DATA").</summary>
    public const int ChunkCountSize = 4;

    public const int ChunkHeaderSize = 4 + 4;

    // Section and option ids (v7 doc "OPTIONS SECTION" and the section chapters). An option id that
    // names a section (16..21) holds the u64 file offset of that section's header.
    public const ushort IdOptionsOrDone = 0;
    public const ushort OptionDate = 1;
    public const ushort OptionCpuStat = 2;
    public const ushort IdBuffer = 3;
    public const ushort OptionTraceClock = 4;
    public const ushort OptionUname = 5;
    public const ushort OptionHook = 6;
    public const ushort OptionOffset = 7;
    public const ushort OptionCpuCount = 8;
    public const ushort OptionVersion = 9;
    public const ushort OptionProcMaps = 10;
    public const ushort OptionTraceId = 11;
    public const ushort OptionTimeShift = 12;
    public const ushort OptionGuest = 13;
    public const ushort OptionTsc2Nsec = 14;
    public const ushort IdStrings = 15;
    public const ushort IdHeaderInfo = 16;
    public const ushort IdFtraceEvents = 17;
    public const ushort IdEventFormats = 18;
    public const ushort IdKallsyms = 19;
    public const ushort IdPrintk = 20;
    public const ushort IdCmdlines = 21;
    public const ushort IdBufferText = 22;

    /// <summary>Option header: u16 id, u32 size (both versions).</summary>
    public const int OptionHeaderSize = 2 + 4;

    /// <summary>v7 DONE option: u64 offset of the next options section (0: none).</summary>
    public const int DoneOptionSize = 8;

    /// <summary>v7 BUFFER option per CPU: u32 cpu id, u64 offset, u64 size.</summary>
    public const int V7CpuEntrySize = 4 + 8 + 8;

    // ---- Ring-buffer sub-buffer ("page"), tracefs events/header_page ----
    //   field: u64 timestamp;  offset:0;  size:8;
    //   field: local_t commit; offset:8;  size:<kernel long>;
    //   field: char data;      offset:8 + <kernel long>;

    public const int PageTimestampOffset = 0;

    public const int PageCommitOffset = PageTimestampOffset + 8;

    /// <summary>Low 27 bits of commit: bytes of event data on the page (kbuffer-parse.c COMMIT_MASK).</summary>
    public const uint CommitLengthMask = (1u << 27) - 1;

    /// <summary>Commit bit 31: events were lost between the previous page and this one.</summary>
    public const ulong CommitMissedEvents = 1UL << 31;

    /// <summary>Commit bit 30: the count of lost events is stored as a kernel long right after the data.</summary>
    public const ulong CommitMissedStored = 1UL << 30;

    // ---- Ring-buffer event header, tracefs events/header_event ----
    //   type_len: 5 bits, time_delta: 27 bits, array: 32 bits.
    // In a little-endian file type_len is the low 5 bits of the u32; in a big-endian file the high 5
    // (the C bitfield follows the byte order; kbuffer-parse.c type_len4host/ts4host).

    public const int EventHeaderSize = 4;

    public const int TimeDeltaBits = 27;

    public const uint TimeDeltaMask = (1u << TimeDeltaBits) - 1;

    public const int TypeLenBits = 5;

    /// <summary>type_len 1..28: the payload is type_len * 4 bytes right after the header.</summary>
    public const uint TypeLenMaxData = 28;

    /// <summary>type_len 0: array[0] holds the payload length plus its own 4 bytes; payload follows it.</summary>
    public const uint TypeLenLengthInArray = 0;

    /// <summary>type_len 29: padding. time_delta 0: the rest of the page; else a discarded event of array[0] more bytes.</summary>
    public const uint TypeLenPadding = 29;

    /// <summary>type_len 30: time extend, delta = array[0] &lt;&lt; 27 | time_delta.</summary>
    public const uint TypeLenTimeExtend = 30;

    /// <summary>type_len 31: absolute time stamp, array[0] &lt;&lt; 27 | time_delta, top 5 bits kept from the running time.</summary>
    public const uint TypeLenTimeStamp = 31;

    /// <summary>Absolute time stamps carry 59 bits; the 5 most significant come from the current time (kbuffer-parse.c TS_MSB).</summary>
    public const ulong AbsoluteTimeStampMsbMask = 0xf8UL << 56;

    // ---- Limits that keep a hostile file from sizing our allocations (not format facts) ----

    /// <summary>Largest metadata block (a decompressed section, the event formats, saved cmdlines) we accept.</summary>
    public const int MaxMetadataBlock = 64 << 20;

    /// <summary>Largest single format file (real ones are a few KiB).</summary>
    public const int MaxFormatFile = 1 << 20;

    /// <summary>Largest decompressed trace-data chunk (trace-cmd writes 10 pages; allow far more).</summary>
    public const int MaxChunk = 16 << 20;

    /// <summary>Sub-buffer sizes the kernel can use: a page up to 1 MiB (buffer_subbuf_size_kb).</summary>
    public const int MinSubBufferSize = 1 << 10;

    public const int MaxSubBufferSize = 1 << 20;

    /// <summary>Linux's largest NR_CPUS is 8192.</summary>
    public const int MaxCpus = 8192;

    /// <summary>A chain of options sections longer than this is a loop, not a file.</summary>
    public const int MaxOptionsSections = 1024;
}
