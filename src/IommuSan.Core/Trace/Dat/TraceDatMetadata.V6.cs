using System.Text;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Trace.Dat;

/// <summary>The v6 walk: one fixed order of blocks after the initial format (v6 doc).</summary>
internal sealed partial class TraceDatMetadata
{
    private void ReadV6(long offset)
    {
        var r = new SequentialReader(File, offset);

        // HEADER INFO FORMAT: read as one block so the shared parser can use a cursor.
        var headerStart = r.Position;
        r.Expect(TraceDatLayout.HeaderPageTag, "header_page tag");
        var pageText = r.ReadBlock(r.ReadUInt64("header_page size"), TraceDatLayout.MaxFormatFile, "header_page text");
        r.Expect(TraceDatLayout.HeaderEventTag, "header_event tag");
        var eventText = r.ReadBlock(r.ReadUInt64("header_event size"), TraceDatLayout.MaxFormatFile, "header_event text");
        ApplyHeaderInfo(pageText, eventText, headerStart);

        // FTRACE EVENT FORMATS: u32 count, then u64 size + text each.
        var ftraceCount = r.ReadUInt32("ftrace format count");
        for (var i = 0u; i < ftraceCount; i++)
        {
            var at = r.Position;
            AddFormat("ftrace", r.ReadBlock(r.ReadUInt64("ftrace format size"), TraceDatLayout.MaxFormatFile, "ftrace format text"), at);
        }

        // EVENT FORMATS: u32 systems; per system a C string, u32 count, u64 size + text each.
        var systems = r.ReadUInt32("event system count");
        for (var s = 0u; s < systems; s++)
        {
            var system = r.ReadCString("event system name", 256);
            var count = r.ReadUInt32($"event count of system '{system}'");
            for (var i = 0u; i < count; i++)
            {
                var at = r.Position;
                AddFormat(system, r.ReadBlock(r.ReadUInt64($"format size in system '{system}'"), TraceDatLayout.MaxFormatFile, "format text"), at);
            }
        }

        // KALLSYMS INFORMATION and TRACE_PRINTK INFORMATION: u32 size + data; not needed.
        r.Skip(r.ReadUInt32("kallsyms size"), "kallsyms");
        r.Skip(r.ReadUInt32("printk formats size"), "printk formats");

        // PROCESS INFORMATION: u64 size + saved cmdlines.
        TraceDatText.ParseCmdlines(r.ReadBlock(r.ReadUInt64("saved cmdlines size"), TraceDatLayout.MaxMetadataBlock, "saved cmdlines"), Comms);

        // REST OF TRACE-CMD HEADER: u32 CPU count, then "options  \0" {options} and "latency  \0" or "flyrecord\0".
        var cpusAt = r.Position;
        var cpus = r.ReadUInt32("CPU count");
        if (cpus > TraceDatLayout.MaxCpus)
        {
            throw File.Error(cpusAt, $"CPU count {cpus} is more than the {TraceDatLayout.MaxCpus} Linux supports");
        }

        CpuCount = (int)cpus;
        var tagAt = r.Position;
        var tag = r.ReadBlock(TraceDatLayout.V6TagLength, TraceDatLayout.V6TagLength, "section tag");
        if (tag.AsSpan().SequenceEqual(TraceDatLayout.V6OptionsTag))
        {
            ReadV6Options(r);
            tagAt = r.Position;
            tag = r.ReadBlock(TraceDatLayout.V6TagLength, TraceDatLayout.V6TagLength, "section tag");
        }

        if (tag.AsSpan().SequenceEqual(TraceDatLayout.V6LatencyTag))
        {
            throw File.Error(tagAt, "this is a latency-tracer trace.dat (text, not ring-buffer data); record with 'trace-cmd record -e ...' instead");
        }

        if (!tag.AsSpan().SequenceEqual(TraceDatLayout.V6FlyrecordTag))
        {
            throw File.Error(tagAt, $"expected \"options  \\0\", \"latency  \\0\" or \"flyrecord\\0\" but found \"{DatCursor.Printable(tag)}\"");
        }

        for (var cpu = 0; cpu < (int)cpus; cpu++)
        {
            var at = r.Position;
            var dataOffset = r.ReadUInt64($"cpu {cpu} data offset");
            var dataSize = r.ReadUInt64($"cpu {cpu} data size");
            AddCpu(cpu, dataOffset, dataSize, at);
        }

        // trace-cmd 2.x and later follow the flyrecord table with u64 size + the trace_clock text.
        // Older writers do not, so it is read only when it is plausible.
        var clockAt = r.Position;
        if (File.Contains(clockAt, 8))
        {
            Span<byte> sizeBytes = stackalloc byte[8];
            File.ReadExactly(clockAt, sizeBytes, "trace clock size");
            var size = File.Cursor(sizeBytes, clockAt).ReadUInt64("trace clock size");
            if (size is > 0 and <= 4096 && File.Contains(clockAt + 8, (long)size))
            {
                var text = File.ReadBlock(clockAt + 8, size, 4096, "trace clock");
                SetClock(TraceDatText.SelectedClock(Encoding.UTF8.GetString(text)));
                r = new SequentialReader(File, clockAt + 8 + (long)size);
            }
        }

        NoteEnd(r.Position);
    }

    // Options: {u16 id, u32 size, data} until id 0 (which has no size in v6).
    private void ReadV6Options(SequentialReader r)
    {
        for (var n = 0; ; n++)
        {
            var at = r.Position;
            var id = r.ReadUInt16("option id");
            if (id == TraceDatLayout.IdOptionsOrDone)
            {
                return;
            }

            var size = r.ReadUInt32("option size");
            switch (id)
            {
                case TraceDatLayout.OptionTraceClock:
                    // tracefs trace_clock text, "[local] global ..."; the flyrecord's own clock text wins if present.
                    var clockText = r.ReadBlock(size, TraceDatLayout.MaxMetadataBlock, "TRACECLOCK option");
                    SetClock(TraceDatText.SelectedClock(Encoding.UTF8.GetString(clockText)));
                    break;
                case TraceDatLayout.OptionCpuCount when size == 4:
                    var cpuCount = File.Cursor(r.ReadBlock(size, 4, "CPUCOUNT option"), at + TraceDatLayout.OptionHeaderSize).ReadUInt32("CPUCOUNT option");
                    CpuCount = cpuCount <= TraceDatLayout.MaxCpus ? (int)cpuCount : CpuCount;
                    break;
                case TraceDatLayout.IdBuffer:
                    // v6 BUFFER option: u64 offset + instance name; only the top-level buffer is read.
                    var data = r.ReadBlock(size, TraceDatLayout.MaxMetadataBlock, "BUFFER option");
                    var c = File.Cursor(data, at + TraceDatLayout.OptionHeaderSize);
                    c.ReadUInt64("buffer offset");
                    var name = c.ReadCString("buffer instance name", 4096);
                    Diagnostics.Add(DiagnosticCatalog.InstanceNotRead, null, 1, null, $"byte {at}", $"instance '{name}'");
                    break;
                default:
                    r.Skip(size, "option data");
                    break;
            }
        }
    }

    /// <summary>A position in the file with checked sequential reads (the v6 header is one long run of blocks).</summary>
    private sealed class SequentialReader(DatFile file, long position)
    {
        private readonly byte[] _scratch = new byte[8];

        public long Position { get; private set; } = position;

        public ushort ReadUInt16(string what) => Cursor(2, what).ReadUInt16(what);

        public uint ReadUInt32(string what) => Cursor(4, what).ReadUInt32(what);

        public ulong ReadUInt64(string what) => Cursor(8, what).ReadUInt64(what);

        public void Expect(ReadOnlySpan<byte> tag, string what)
        {
            var at = Position;
            var got = ReadBlock((ulong)tag.Length, tag.Length, what);
            if (!got.AsSpan().SequenceEqual(tag))
            {
                throw file.Error(at, $"expected {what} \"{DatCursor.Printable(tag)}\" but found \"{DatCursor.Printable(got)}\"");
            }
        }

        public byte[] ReadBlock(ulong size, int cap, string what)
        {
            var block = file.ReadBlock(Position, size, cap, what);
            Position += block.Length;
            return block;
        }

        public void Skip(ulong size, string what)
        {
            if (size > (ulong)(file.Length - Position))
            {
                throw file.Error(Position, $"truncated: {what} is {size} bytes but the file ends {file.Length - Position} bytes later");
            }

            Position += (long)size;
        }

        public string ReadCString(string what, int maxLength)
        {
            var buffer = new byte[maxLength + 1];
            var n = file.ReadAtMost(Position, buffer);
            var c = file.Cursor(buffer.AsSpan(0, n), Position);
            var s = c.ReadCString(what, maxLength);
            Position += c.Position;
            return s;
        }

        private DatCursor Cursor(int size, string what)
        {
            var at = Position;
            file.ReadExactly(at, _scratch.AsSpan(0, size), what);
            Position += size;
            return file.Cursor(_scratch.AsSpan(0, size), at);
        }
    }
}
