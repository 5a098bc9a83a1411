using System.Buffers.Binary;
using IommuSan.Testing.TraceDat;
using IommuSan.Trace.Dat;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Records;

namespace IommuSan.Tests.Trace.Dat;

/// <summary>Synthetic events written by the test-only writer come back from the reader unchanged.</summary>
public sealed class WriterRoundTripTests
{
    private static readonly int[] WriteOrder = [3, 1, 2, 0];

    public static TheoryData<int, string, bool, int> Layouts => new()
    {
        { 7, "zstd", false, 8 },
        { 7, "zlib", false, 8 },
        { 7, "none", false, 8 },
        { 6, "none", false, 8 },
        { 7, "zstd", true, 8 },
        { 7, "zlib", true, 4 },
        { 6, "none", true, 4 },
        { 7, "none", false, 4 },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Every_event_comes_back_with_time_cpu_pid_comm_format_and_payload(int version, string compression, bool bigEndian, int longSize)
    {
        var trace = new SyntheticTrace(seed: 7, bigEndian, longSize);
        var events = Enumerable.Range(0, 3).SelectMany(cpu => trace.EventsOfCpu(cpu, 2500)).ToList();
        var options = Options(trace, version, Enum.Parse<DatCompression>(compression, ignoreCase: true), bigEndian, longSize, cpus: 3);

        var actual = WriteAndRead(options, events, out var reader);

        Assert.Equal(version == 6 ? TraceKind.TraceDatV6 : TraceKind.TraceDatV7, reader.Kind);
        Assert.Equal(bigEndian, reader.IsBigEndian);
        Assert.Equal(longSize, reader.KernelLongSize);
        Assert.All(reader.Formats, f => Assert.Equal(bigEndian, f.IsBigEndian));
        Assert.Equal(0, reader.Diagnostics.Count);
        Assert.Equal(Expected(events, trace, bigEndian), actual);
    }

    [Theory]
    [InlineData(true, 0, 0)]
    [InlineData(false, 3, 0)]
    [InlineData(false, 0, 4)]
    [InlineData(true, 5, 7)]
    public void Length_in_array_absolute_time_stamps_and_discarded_events_decode_to_the_same_events(bool lengthInArray, int absoluteEvery, int discardEvery)
    {
        var trace = new SyntheticTrace(seed: 11);
        var events = Enumerable.Range(0, 2).SelectMany(cpu => trace.EventsOfCpu(cpu, 3000)).ToList();
        var options = Options(trace, 7, DatCompression.Zstd, false, 8, cpus: 2);
        options = new TraceDatWriterOptions
        {
            Formats = options.Formats, Comms = options.Comms, CpuCount = 2,
            LengthInArrayAlways = lengthInArray, AbsoluteTimeStampEvery = absoluteEvery, DiscardedEventEvery = discardEvery,
        };

        var actual = WriteAndRead(options, events, out var reader);

        Assert.Equal(0, reader.Diagnostics.Count);
        Assert.Equal(Expected(events, trace, false), actual);
    }

    [Theory]
    [InlineData(4096, 0, "none")]
    [InlineData(4096, 16384, "zstd")]
    [InlineData(16384, 0, "zlib")]
    [InlineData(65536, 0, "none")]
    public void Page_and_sub_buffer_sizes_come_from_the_file(int pageSize, int subBufferSize, string compression)
    {
        var trace = new SyntheticTrace(seed: 17);
        var events = Enumerable.Range(0, 2).SelectMany(cpu => trace.EventsOfCpu(cpu, 4000)).ToList();
        var options = new TraceDatWriterOptions
        {
            Compression = Enum.Parse<DatCompression>(compression, ignoreCase: true), PageSize = pageSize, SubBufferSize = subBufferSize,
            CpuCount = 2, Formats = SyntheticTrace.Formats, Comms = trace.Comms,
        };

        var actual = WriteAndRead(options, events, out var reader);

        Assert.Equal(System.Numerics.BitOperations.Log2((uint)pageSize), reader.CpuPageShift);
        Assert.Equal(subBufferSize > 0 ? subBufferSize : pageSize, reader.SubBufferSize);
        Assert.Equal(0, reader.Diagnostics.Count);
        Assert.Equal(Expected(events, trace, false), actual);
    }

    [Fact]
    public void Big_endian_payload_fields_decode_to_the_values_written()
    {
        var trace = new SyntheticTrace(seed: 3, bigEndian: true);
        var map = new PayloadBuilder(trace.Format("map")).Reset(102).Set("iova", 0xffef_0000).Set("paddr", 0xf34a000).Set("size", 4096).ToArray();
        var options = Options(trace, 7, DatCompression.Zstd, bigEndian: true, longSize: 8, cpus: 1);

        using var file = new TempFile(".dat");
        TraceDatWriter.WriteFile(file.Path, options, [new DatEvent(0, 15_360_938_000, map)]);
        using var reader = DatFixtures.Open(file.Path);
        var e = Assert.Single(reader.ReadEvents().Select(Decode).ToList());

        Assert.Equal((15_360_938_000L, "map", 0xffef_0000UL, 0xf34a000UL, 4096UL, 102, "ping"), e);

        static (long, string, ulong, ulong, ulong, int, string) Decode(TraceEvent e) =>
            (e.TimeNs, e.Name, Get(e, "iova"), Get(e, "paddr"), Get(e, "size"), e.Pid, e.Comm);
    }

    [Fact]
    public void Equal_timestamps_on_two_cpus_come_out_lower_cpu_first()
    {
        var trace = new SyntheticTrace(seed: 5);
        var free = new PayloadBuilder(trace.Format("mm_page_free"));
        var events = new List<DatEvent>();
        for (var i = 0; i < 50; i++)
        {
            foreach (var cpu in WriteOrder)
            {
                events.Add(new DatEvent(cpu, 1_000_000UL + ((ulong)i * 1000), free.Reset(100 + cpu).Set("pfn", (ulong)i).Set("order", 0).ToArray()));
            }
        }

        var actual = WriteAndRead(Options(trace, 7, DatCompression.None, false, 8, cpus: 4), events, out _);

        Assert.Equal(200, actual.Count);
        for (var i = 0; i < actual.Count; i++)
        {
            Assert.Equal(i % 4, actual[i].Cpu);
        }
    }

    [Fact]
    public void Pids_missing_from_saved_cmdlines_get_placeholder_comms()
    {
        var trace = new SyntheticTrace(seed: 9);
        var free = new PayloadBuilder(trace.Format("mm_page_free"));
        int[] pids = [0, 999, 101];
        var events = pids.Select((pid, i) => new DatEvent(0, 100UL + (ulong)i, free.Reset(pid).Set("pfn", 1).Set("order", 0).ToArray())).ToList();

        var actual = WriteAndRead(Options(trace, 6, DatCompression.None, false, 8, cpus: 1), events, out _);

        Assert.Equal(["<idle>", "<...>", "dd"], actual.Select(e => e.Comm));
    }

    internal static TraceDatWriterOptions Options(SyntheticTrace trace, int version, DatCompression compression, bool bigEndian, int longSize, int cpus) => new()
    {
        Version = version,
        Compression = compression,
        BigEndian = bigEndian,
        LongSize = longSize,
        CpuCount = cpus,
        Formats = SyntheticTrace.Formats,
        Comms = trace.Comms,
    };

    internal static List<EventSnapshot> WriteAndRead(TraceDatWriterOptions options, IEnumerable<DatEvent> events, out TraceDatReader reader)
    {
        using var file = new TempFile(".dat");
        TraceDatWriter.WriteFile(file.Path, options, events);
        reader = DatFixtures.Open(file.Path);
        using (reader)
        {
            return DatFixtures.Snapshot(reader);
        }
    }

    /// <summary>The naive oracle: sort by (time, cpu), stable within a CPU; decode id, pid and comm directly.</summary>
    internal static List<EventSnapshot> Expected(IEnumerable<DatEvent> events, SyntheticTrace trace, bool bigEndian)
    {
        var byId = SyntheticTrace.Formats.Select(f => IommuSan.Trace.Formats.FormatParser.Parse(f.System, f.Text)).ToDictionary(f => f.Id);
        return events.OrderBy(e => e.Timestamp).ThenBy(e => e.Cpu).Select(e =>
        {
            var p = e.Payload.Span;
            var id = bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(p) : BinaryPrimitives.ReadUInt16LittleEndian(p);
            var pid = bigEndian ? BinaryPrimitives.ReadInt32BigEndian(p[4..]) : BinaryPrimitives.ReadInt32LittleEndian(p[4..]);
            var comm = trace.Comms.TryGetValue(pid, out var c) ? c : pid == 0 ? "<idle>" : "<...>";
            var padded = new byte[(p.Length + 3) & ~3];
            p.CopyTo(padded);
            var f = byId[id];
            return new EventSnapshot((long)e.Timestamp, e.Cpu, pid, comm, f.System, f.Name, Convert.ToHexString(padded));
        }).ToList();
    }

    private static ulong Get(TraceEvent e, string field) => e.TryGetUInt64(field, out var v) ? v : throw new KeyNotFoundException(field);
}
