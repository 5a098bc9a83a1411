using System.Text;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Trace.Dat;

/// <summary>The v7 walk: compression header, a chain of options sections, and the sections they point at (v7 doc).</summary>
internal sealed partial class TraceDatMetadata
{
    /// <summary>The decompressor the file's compression header names (null for "none" and v6).</summary>
    public DatDecompressor? Decompressor { get; private set; }

    private void ReadV7(long offset)
    {
        // Compression header: "name\0version\0", then the u64 offset of the first options section.
        Span<byte> head = stackalloc byte[160];
        var n = File.ReadAtMost(offset, head);
        var c = File.Cursor(head[..n], offset);
        var nameAt = c.FileOffset;
        Compression = c.ReadCString("compression algorithm name", 64);
        c.ReadCString("compression algorithm version", 64);
        Decompressor = DatDecompressor.Create(Compression, out var supported);
        if (!supported)
        {
            throw File.Error(nameAt, $"unsupported compression \"{Compression}\" (expected none, zlib or zstd)");
        }

        var nextAt = c.FileOffset;
        var next = c.ReadUInt64("first options section offset");
        NoteEnd(c.FileOffset);

        var firstOptionsAt = c.FileOffset - 8;
        var sections = new Dictionary<ushort, (ulong Offset, long At)>();
        var topBuffer = (Found: false, Offset: 0UL, At: 0L);
        string? clockOption = null;
        var latency = false;
        var visited = new HashSet<ulong>();
        while (next != 0)
        {
            if (!visited.Add(next) || visited.Count > TraceDatLayout.MaxOptionsSections)
            {
                throw File.Error(nextAt, $"the chain of options sections loops back to byte {next}");
            }

            var (data, dataAt, compressed) = ReadSection(next, TraceDatLayout.IdOptionsOrDone, "options section", nextAt);
            var oc = File.Cursor(data, dataAt, compressed ? "options section" : null);
            next = 0;
            var done = false;
            while (!done)
            {
                if (oc.IsAtEnd)
                {
                    throw oc.Error("options section ends without a DONE option");
                }

                var optionAt = oc.FileOffset;
                var id = oc.ReadUInt16("option id");
                var body = oc.ReadBytes(oc.ReadSize32("option size"), "option data");
                var bc = File.Cursor(body, compressed ? dataAt : optionAt + TraceDatLayout.OptionHeaderSize, compressed ? "options section" : null);
                switch (id)
                {
                    case TraceDatLayout.IdOptionsOrDone:
                        nextAt = optionAt;
                        next = bc.ReadUInt64("DONE option (next options offset)");
                        done = true;
                        break;
                    case TraceDatLayout.IdBuffer:
                        if (ReadBufferOption(ref bc, optionAt) is { } top && !topBuffer.Found)
                        {
                            topBuffer = (true, top, optionAt);
                        }

                        break;
                    case TraceDatLayout.IdBufferText:
                        latency = true;
                        break;
                    case TraceDatLayout.IdHeaderInfo or TraceDatLayout.IdFtraceEvents or TraceDatLayout.IdEventFormats
                        or TraceDatLayout.IdKallsyms or TraceDatLayout.IdPrintk or TraceDatLayout.IdCmdlines:
                        sections[id] = (bc.ReadUInt64("section offset"), optionAt);
                        break;
                    case TraceDatLayout.OptionTraceClock:
                        clockOption = TraceDatText.SelectedClock(Encoding.UTF8.GetString(body));
                        break;
                    case TraceDatLayout.OptionCpuCount when body.Length == 4:
                        var cpuCount = bc.ReadUInt32("CPUCOUNT option");
                        CpuCount = cpuCount <= TraceDatLayout.MaxCpus ? (int)cpuCount : CpuCount;
                        break;
                    default:
                        break;
                }
            }
        }

        if (!sections.TryGetValue(TraceDatLayout.IdHeaderInfo, out var headerAt))
        {
            throw File.Error(firstOptionsAt, "no HEADER_INFO option: the file does not say where its header_page/header_event section is");
        }

        ReadSectionWith(headerAt, TraceDatLayout.IdHeaderInfo, "header info section", (TraceDatMetadata m, ref DatCursor sc) => m.ParseHeaderInfo(ref sc));
        if (sections.TryGetValue(TraceDatLayout.IdFtraceEvents, out var ftraceAt))
        {
            ReadSectionWith(ftraceAt, TraceDatLayout.IdFtraceEvents, "ftrace events section", (TraceDatMetadata m, ref DatCursor sc) => m.ParseFtraceFormats(ref sc));
        }

        if (sections.TryGetValue(TraceDatLayout.IdEventFormats, out var formatsAt))
        {
            ReadSectionWith(formatsAt, TraceDatLayout.IdEventFormats, "event formats section", (TraceDatMetadata m, ref DatCursor sc) => m.ParseEventSystems(ref sc));
        }

        if (sections.TryGetValue(TraceDatLayout.IdCmdlines, out var cmdlinesAt))
        {
            ReadSectionWith(cmdlinesAt, TraceDatLayout.IdCmdlines, "saved cmdlines section", (TraceDatMetadata m, ref DatCursor sc) =>
                TraceDatText.ParseCmdlines(sc.ReadBytes(sc.ReadSize64("saved cmdlines size"), "saved cmdlines"), m.Comms));
        }

        if (!topBuffer.Found)
        {
            throw File.Error(firstOptionsAt, latency
                ? "this is a latency-tracer trace.dat (text, not ring-buffer data); record with 'trace-cmd record -e ...' instead"
                : "the file has no top-level flyrecord BUFFER option: there is no ring-buffer data to read");
        }

        // The BUFFER section header says whether the per-CPU data is compressed (v7 doc "BUFFER FLYRECORD SECTION").
        Span<byte> header = stackalloc byte[TraceDatLayout.SectionHeaderSize];
        if (topBuffer.Offset > long.MaxValue)
        {
            throw File.Error(topBuffer.At, $"buffer section offset {topBuffer.Offset} is past the end of the file");
        }

        var bufferAt = (long)topBuffer.Offset;
        File.ReadExactly(bufferAt, header, "buffer section header");
        var hc = File.Cursor(header, bufferAt);
        var sectionId = hc.ReadUInt16("section id");
        var flags = hc.ReadUInt16("section flags");
        if (sectionId != TraceDatLayout.IdBuffer)
        {
            throw File.Error(bufferAt, $"expected the flyrecord buffer section (id {TraceDatLayout.IdBuffer}) but found section id {sectionId}");
        }

        CpuDataCompressed = (flags & TraceDatLayout.SectionFlagCompressed) != 0;
        if (CpuDataCompressed && Decompressor is null)
        {
            throw File.Error(bufferAt, "the buffer section is marked compressed but the file's compression is \"none\"");
        }

        SetClock(Clock ?? clockOption);
    }

    // BUFFER option: u64 section offset, instance name, clock, u32 sub-buffer size, u32 CPU count,
    // per CPU {u32 id, u64 offset, u64 size}. Returns the section offset for the top-level buffer.
    private ulong? ReadBufferOption(ref DatCursor c, long optionAt)
    {
        var sectionOffset = c.ReadUInt64("buffer section offset");
        var name = c.ReadCString("buffer instance name", 4096);
        var clock = c.ReadCString("buffer trace clock", 256);
        if (name.Length != 0)
        {
            Diagnostics.Add(DiagnosticCatalog.InstanceNotRead, null, 1, null, $"byte {optionAt}", $"instance '{name}'");
            return null;
        }

        if (Cpus.Count > 0)
        {
            return null;
        }

        var sizeAt = c.FileOffset;
        var subBufferSize = c.ReadUInt32("sub-buffer size");
        if (subBufferSize < TraceDatLayout.MinSubBufferSize || subBufferSize > TraceDatLayout.MaxSubBufferSize || !uint.IsPow2(subBufferSize))
        {
            throw c.ErrorAt(sizeAt, $"sub-buffer size {subBufferSize} is not a power of two between {TraceDatLayout.MinSubBufferSize} and {TraceDatLayout.MaxSubBufferSize}");
        }

        SubBufferSize = (int)subBufferSize;
        _subBufferSizeAt = sizeAt;
        SetClock(clock);
        var count = c.ReadCount32("buffer CPU count", TraceDatLayout.V7CpuEntrySize);
        for (var i = 0; i < count; i++)
        {
            var entryAt = c.FileOffset;
            var cpu = c.ReadUInt32("cpu id");
            if (cpu >= TraceDatLayout.MaxCpus)
            {
                throw c.ErrorAt(entryAt, $"cpu id {cpu} is not below {TraceDatLayout.MaxCpus}");
            }

            var dataOffset = c.ReadUInt64($"cpu {cpu} data offset");
            var dataSize = c.ReadUInt64($"cpu {cpu} data size");
            AddCpu((int)cpu, dataOffset, dataSize, entryAt);
        }

        return sectionOffset;
    }

    private delegate void SectionParser(TraceDatMetadata metadata, ref DatCursor cursor);

    private void ReadSectionWith((ulong Offset, long At) pointer, ushort id, string what, SectionParser parse)
    {
        var (data, dataAt, compressed) = ReadSection(pointer.Offset, id, what, pointer.At);
        var c = File.Cursor(data, dataAt, compressed ? what : null);
        parse(this, ref c);
    }

    /// <summary>Reads one section's data: {u16 id, u16 flags, u32 string id, u64 size}, then the data,
    /// decompressed when flag 1 is set ({u32 compressed, u32 uncompressed, data}).</summary>
    private (byte[] Data, long DataAt, bool Compressed) ReadSection(ulong offsetValue, ushort expectedId, string what, long pointerAt)
    {
        if (offsetValue > (ulong)File.Length)
        {
            throw File.Error(pointerAt, $"{what} offset {offsetValue} is past the end of the file ({File.Length} bytes)");
        }

        var offset = (long)offsetValue;
        Span<byte> header = stackalloc byte[TraceDatLayout.SectionHeaderSize];
        File.ReadExactly(offset, header, $"{what} header");
        var c = File.Cursor(header, offset);
        var id = c.ReadUInt16("section id");
        var flags = c.ReadUInt16("section flags");
        c.ReadUInt32("section description string id");
        var size = c.ReadUInt64("section size");
        if (id != expectedId)
        {
            throw File.Error(offset, $"expected the {what} (section id {expectedId}) but found section id {id}");
        }

        var dataAt = offset + TraceDatLayout.SectionHeaderSize;
        if (size > (ulong)(File.Length - dataAt))
        {
            throw File.Error(offset + TraceDatLayout.SectionSizeOffset,
                $"{what} size {size} runs past the end of the file ({File.Length - dataAt} bytes remain)");
        }

        NoteEnd(dataAt + (long)size);
        if ((flags & TraceDatLayout.SectionFlagCompressed) == 0)
        {
            return (File.ReadBlock(dataAt, size, TraceDatLayout.MaxMetadataBlock, what), dataAt, false);
        }

        if (Decompressor is null)
        {
            throw File.Error(offset, $"{what} is marked compressed but the file's compression is \"none\"");
        }

        Span<byte> sizes = stackalloc byte[TraceDatLayout.CompressedBlockHeaderSize];
        File.ReadExactly(dataAt, sizes, $"{what} compression header");
        var sc = File.Cursor(sizes, dataAt);
        var compressedSize = sc.ReadUInt32("compressed size");
        var uncompressedSize = sc.ReadUInt32("uncompressed size");
        if (compressedSize > size - Math.Min(size, TraceDatLayout.CompressedBlockHeaderSize))
        {
            throw File.Error(dataAt, $"{what}: compressed size {compressedSize} exceeds the section size {size}");
        }

        if (uncompressedSize > TraceDatLayout.MaxMetadataBlock)
        {
            throw File.Error(dataAt + 4, $"{what}: uncompressed size {uncompressedSize} is more than the {TraceDatLayout.MaxMetadataBlock} bytes accepted");
        }

        var packed = File.ReadBlock(dataAt + TraceDatLayout.CompressedBlockHeaderSize, compressedSize, TraceDatLayout.MaxMetadataBlock, what);
        var data = new byte[uncompressedSize];
        int produced;
        try
        {
            produced = Decompressor.Decompress(packed, 0, packed.Length, data);
        }
        catch (InvalidDataException e)
        {
            throw new TraceDataException(File.Path, $"corrupt {Compression} data in the {what}: {e.Message}", dataAt, inner: e);
        }

        if (produced != uncompressedSize)
        {
            throw File.Error(dataAt, $"{what} decompressed to {produced} bytes but its header says {uncompressedSize}");
        }

        return (data, dataAt, true);
    }
}
