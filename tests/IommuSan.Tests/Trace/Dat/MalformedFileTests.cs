using System.Buffers.Binary;
using IommuSan.Testing.TraceDat;
using IommuSan.Trace.Dat;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Tests.Trace.Dat;

/// <summary>
/// The regression corpus of malformed files: each is cut or corrupted from a valid file the writer made,
/// and must give a <see cref="TraceDataException"/> naming the file and a byte offset (and the CPU where
/// ring-buffer data was involved) within a time limit: never a hang, a crash or a huge allocation.
/// </summary>
public sealed class MalformedFileTests
{
    private const string Name = "broken.dat";

    public static TheoryData<int, string> Layouts => new() { { 6, "none" }, { 7, "none" }, { 7, "zstd" }, { 7, "zlib" } };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void A_file_cut_at_any_section_boundary_is_rejected_with_file_and_offset(int version, string compression)
    {
        var (bytes, map) = ValidFile(version, compression);
        foreach (var (part, offset) in map.Boundaries)
        {
            // The strings section only names sections; a file cut there still has everything needed.
            if (part == "strings section")
            {
                Assert.Equal(3000, ReadAll(bytes.AsSpan(0, (int)offset).ToArray()));
                continue;
            }

            foreach (var cut in new[] { offset, offset + 1, offset + 7 })
            {
                if (cut < bytes.Length)
                {
                    var e = Rejected(bytes.AsSpan(0, (int)cut).ToArray(), $"cut at {cut} ({part})");
                    Assert.True(e.ByteOffset <= cut || e.Problem.Contains("past the end", StringComparison.Ordinal), $"{part}: {e.Message}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void A_file_cut_anywhere_before_its_last_ring_buffer_byte_is_rejected(int version, string compression)
    {
        var (bytes, map) = ValidFile(version, compression);
        var needed = map.Boundaries.First(b => b.Name == (version == 6 ? "cpu1 data" : "strings section")).Offset;
        if (version == 6)
        {
            needed = map.CpuData[1].Offset + map.CpuData[1].Size;
        }

        for (long cut = 0; cut < needed; cut += 1 + (needed / 150))
        {
            Rejected(bytes.AsSpan(0, (int)cut).ToArray(), $"cut at {cut}");
        }
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Absurd_lengths_and_counts_are_rejected_without_allocating_them(int version, string compression)
    {
        var (bytes, map) = ValidFile(version, compression);
        foreach (var (field, (offset, width)) in map.Fields)
        {
            foreach (var value in new[] { ulong.MaxValue, 0x7fff_fff0UL, (ulong)bytes.Length })
            {
                var broken = (byte[])bytes.Clone();
                Write(broken, offset, width, value);
                var e = Outcome(broken, out var events);
                if (e is null)
                {
                    // Only fields that merely point past data nobody needs may be harmless.
                    Assert.True(Harmless(field), $"{field}={value:x}: read {events} events without an error");
                    continue;
                }

                Assert.Equal(Name, e.File);
                Assert.NotNull(e.ByteOffset);
                if (field.StartsWith("cpu", StringComparison.Ordinal) && field.Contains("chunk", StringComparison.Ordinal))
                {
                    Assert.Equal(field[3] - '0', e.Cpu);
                }
            }
        }
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("zlib")]
    public void Corrupt_compressed_ring_buffer_data_names_the_cpu_and_chunk(string compression)
    {
        var (bytes, map) = ValidFile(7, compression);
        var (dataAt, _) = map.Fields["cpu1 first chunk data"];
        var broken = (byte[])bytes.Clone();
        for (var i = 0; i < 64; i++)
        {
            broken[dataAt + i] ^= 0x5a;
        }

        var e = Rejected(broken, "scrambled chunk");
        Assert.Equal(1, e.Cpu);
        Assert.Equal(map.Fields["cpu1 first chunk compressed size"].Offset, e.ByteOffset);
        Assert.Contains($"corrupt {compression} chunk", e.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("zlib")]
    public void Corrupt_compressed_metadata_is_rejected(string compression)
    {
        var (bytes, map) = ValidFile(7, compression);
        var (sizeAt, _) = map.Fields["events format compressed size"];
        var broken = (byte[])bytes.Clone();
        for (var i = 8; i < 40; i++)
        {
            broken[sizeAt + i] ^= 0xa5;
        }

        var e = Rejected(broken, "scrambled formats");
        Assert.Contains("corrupt " + compression + " data in the event formats section", e.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 0x00, "not a trace.dat file")]
    [InlineData(10, (byte)'9', "unsupported trace.dat version \"9\"")]
    [InlineData(12, 2, "endianness byte is 2")]
    [InlineData(13, 3, "long size is 3")]
    [InlineData(14, 0x13, "page size")]
    public void A_bad_initial_format_is_rejected(int offset, byte value, string expected)
    {
        var (bytes, _) = ValidFile(7, "zstd");
        bytes[offset] = value;
        var e = Rejected(bytes, "bad initial format");
        Assert.Contains(expected, e.Problem, StringComparison.Ordinal);
        Assert.Equal(offset, e.ByteOffset);
    }

    [Fact]
    public void An_unknown_compression_is_rejected()
    {
        var (bytes, _) = ValidFile(7, "zstd");
        "lz4\0"u8.CopyTo(bytes.AsSpan(18));
        var e = Rejected(bytes, "lz4");
        Assert.Contains("unsupported compression", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_sections_that_loop_are_rejected()
    {
        var (bytes, map) = ValidFile(7, "none");
        var (doneAt, _) = map.Fields["options DONE offset"];
        var first = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan((int)map.Fields["first options offset"].Offset));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan((int)doneAt), first);
        var e = Rejected(bytes, "options loop");
        Assert.Contains("loops back", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_latency_trace_is_rejected_with_a_hint()
    {
        var (bytes, map) = ValidFile(6, "none");
        var flyrecord = map.Boundaries.Single(b => b.Name == "flyrecord").Offset;
        "latency  \0"u8.CopyTo(bytes.AsSpan((int)flyrecord));
        var e = Rejected(bytes, "latency");
        Assert.Contains("latency-tracer", e.Problem, StringComparison.Ordinal);
    }

    /// <summary>
    /// Seeded fuzzing: random bytes of a valid file overwritten, anywhere (metadata, chunk headers, pages).
    /// Each mutant must read to the end (possibly with diagnostics) or fail with a TraceDataException —
    /// never another exception, never a hang.
    /// </summary>
    [Theory]
    [MemberData(nameof(Layouts))]
    public void Random_byte_damage_never_crashes_or_hangs_the_reader(int version, string compression)
    {
        var (bytes, _) = ValidFile(version, compression);
        var rng = new Random(20261124 + version + compression.Length);
        for (var round = 0; round < 150; round++)
        {
            var mutant = (byte[])bytes.Clone();
            var hits = 1 + rng.Next(8);
            for (var k = 0; k < hits; k++)
            {
                // Half the damage lands in the first 4 KiB (where the metadata and its lengths are).
                var at = rng.Next(2) == 0 ? rng.Next(Math.Min(4096, mutant.Length)) : rng.Next(mutant.Length);
                mutant[at] = (byte)rng.Next(256);
            }

            // Outcome fails the test on any other exception type or on a timeout.
            if (Outcome(mutant, out _) is { } e)
            {
                Assert.Equal(Name, e.File);
                Assert.NotNull(e.ByteOffset);
            }
        }
    }

    [Fact]
    public void An_empty_file_is_rejected() => Assert.Contains("not a trace.dat", Rejected([], "empty").Problem, StringComparison.Ordinal);

    // Fields whose corruption cannot hurt: sizes of sections the reader skips or never needs.
    private static bool Harmless(string field) =>
        field.StartsWith("strings", StringComparison.Ordinal) || field.StartsWith("kallsyms", StringComparison.Ordinal)
        || field.StartsWith("printk", StringComparison.Ordinal) || field == "buffer section size";

    private static void Write(byte[] bytes, long offset, int width, ulong value)
    {
        var span = bytes.AsSpan((int)offset, width);
        switch (width)
        {
            case 4: BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)Math.Min(value, uint.MaxValue)); break;
            case 8: BinaryPrimitives.WriteUInt64LittleEndian(span, value); break;
            default: throw new ArgumentOutOfRangeException(nameof(width));
        }
    }

    private static (byte[] Bytes, DatFileMap Map) ValidFile(int version, string compression)
    {
        var trace = new SyntheticTrace(seed: 13);
        var options = new TraceDatWriterOptions
        {
            Version = version, Compression = Enum.Parse<DatCompression>(compression, ignoreCase: true), CpuCount = 2,
            Formats = SyntheticTrace.Formats, Comms = trace.Comms, ChunkPages = 4,
        };
        using var ms = new MemoryStream();
        var map = TraceDatWriter.Write(ms, options, cpu => trace.EventsOfCpu(cpu, 1500, copyPayloads: false));
        return (ms.ToArray(), map);
    }

    private static TraceDataException Rejected(byte[] bytes, string what)
    {
        var e = Outcome(bytes, out var events);
        Assert.True(e is not null, $"{what}: read {events} events without an error");
        Assert.Equal(Name, e.File);
        Assert.NotNull(e.ByteOffset);
        Assert.StartsWith($"{Name}: byte ", e.Message, StringComparison.Ordinal);
        return e;
    }

    private static int ReadAll(byte[] bytes)
    {
        var e = Outcome(bytes, out var events);
        Assert.Null(e);
        return events;
    }

    /// <summary>Opens and reads everything under a timeout guard; returns the TraceDataException if any.</summary>
    private static TraceDataException? Outcome(byte[] bytes, out int events)
    {
        var count = 0;
        var task = Task.Run(() =>
        {
            using var reader = TraceDatReader.Open(Name, new MemoryStream(bytes, writable: false));
            foreach (var e in reader.ReadEvents())
            {
                count++;
            }
        });
        try
        {
            if (!task.Wait(TimeSpan.FromSeconds(20)))
            {
                throw new TimeoutException("the reader did not finish within 20 s (a hang)");
            }
        }
        catch (AggregateException ae) when (ae.InnerException is TraceDataException tde)
        {
            events = count;
            return tde;
        }

        // Any other exception type escapes the catch above and fails the test: that is a crash.
        events = count;
        return null;
    }
}
