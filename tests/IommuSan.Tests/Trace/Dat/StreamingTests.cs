using IommuSan.Testing.TraceDat;

namespace IommuSan.Tests.Trace.Dat;

/// <summary>A trace of any size is read with bounded memory, in one pass, with progress.</summary>
public sealed class StreamingTests
{
    [Theory]
    [InlineData("zstd")]
    [InlineData("none")]
    public void Memory_allocated_while_reading_does_not_grow_with_the_number_of_events(string compression)
    {
        var small = AllocatedWhileReading(20_000, compression);
        var large = AllocatedWhileReading(200_000, compression);

        // Ten times the events may not cost ten times the memory: nothing is allocated per event.
        Assert.True(large < small + (256 << 10), $"{compression}: 20k events allocated {small} bytes, 200k events {large}");
    }

    [Fact]
    public void Position_advances_to_the_file_length_as_events_are_read()
    {
        var trace = new SyntheticTrace(seed: 8);
        using var file = new TempFile(".dat");
        using (var f = File.Create(file.Path))
        {
            TraceDatWriter.Write(f, Options(trace, "zstd"), cpu => trace.EventsOfCpu(cpu, 40_000, copyPayloads: false));
        }

        using var reader = DatFixtures.Open(file.Path);
        var positions = new List<long>();
        foreach (var e in reader.ReadEvents())
        {
            positions.Add(reader.Position);
        }

        Assert.Equal(80_000, positions.Count);
        Assert.True(positions[0] < reader.Length / 2, $"first position {positions[0]} of {reader.Length}");
        Assert.Equal(positions.Order(), positions);
        Assert.Equal(reader.Length, reader.Position);
    }

    [Fact]
    public void Events_can_be_read_only_once_per_open()
    {
        using var reader = DatFixtures.Open(DatFixtures.V7Path("tracepoints-page_uaf-clean"));
        _ = reader.ReadEvents().Take(10).Count();
        Assert.Throws<InvalidOperationException>(() => reader.ReadEvents());
    }

    [Fact]
    public void Reading_stops_when_cancelled()
    {
        using var reader = DatFixtures.Open(DatFixtures.V7Path("tracepoints-page_uaf-clean"));
        using var cts = new CancellationTokenSource();
        var n = 0;
        Assert.Throws<OperationCanceledException>(() =>
        {
            foreach (var e in reader.ReadEvents(cancellationToken: cts.Token))
            {
                if (++n == 100)
                {
                    cts.Cancel();
                }
            }
        });
        Assert.True(n < 10_000, $"{n} events read after cancelling");
    }

    /// <summary>
    /// Bytes allocated on this thread by one read of a trace with <paramref name="eventsPerCpu"/> events per CPU.
    /// The reader's fixed buffers come from <see cref="System.Buffers.ArrayPool{T}.Shared"/>, whose hits and
    /// misses depend on what other tests running in parallel rent; so the file is read once to warm the pool
    /// and the JIT, and the least of three reads is what counts.
    /// </summary>
    private static long AllocatedWhileReading(int eventsPerCpu, string compression)
    {
        var trace = new SyntheticTrace(seed: 8);
        using var file = new TempFile(".dat");
        using (var f = File.Create(file.Path))
        {
            TraceDatWriter.Write(f, Options(trace, compression), cpu => trace.EventsOfCpu(cpu, eventsPerCpu, copyPayloads: false));
        }

        _ = ReadOnce(file.Path);
        return Enumerable.Range(0, 3).Min(_ => ReadOnce(file.Path));
    }

    private static long ReadOnce(string path)
    {
        using var reader = DatFixtures.Open(path);
        var before = GC.GetAllocatedBytesForCurrentThread();
        long checksum = 0;
        foreach (var e in reader.ReadEvents())
        {
            checksum += e.Payload.Length + e.Comm.Length;
        }

        Assert.True(checksum > 0);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private static TraceDatWriterOptions Options(SyntheticTrace trace, string compression) => new()
    {
        Compression = Enum.Parse<DatCompression>(compression, ignoreCase: true),
        CpuCount = 2,
        Formats = SyntheticTrace.Formats,
        Comms = trace.Comms,
    };
}
