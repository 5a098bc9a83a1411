using IommuSan.Testing.TraceDat;
using IommuSan.Trace.Records;

namespace IommuSan.Tests.Trace.Dat;

/// <summary>
/// Property: for random traces (CPU count, event sizes from 8 bytes to several hundred, gaps from zero to
/// hours, equal timestamps across CPUs) written in random layouts (v6/v7, none/zlib/zstd, byte order,
/// long size, sub-buffer size, time stamp and discard records), the reader returns exactly what the naive
/// oracle (sort by time then cpu) predicts. Seeded: a failing case names its seed and replays.
/// </summary>
public sealed class RoundTripPropertyTests
{
    private const int Cases = 40;
    private const int BaseSeed = 424242;

    [Fact]
    public void Random_traces_in_random_layouts_read_back_as_the_oracle_predicts()
    {
        for (var i = 0; i < Cases; i++)
        {
            var seed = BaseSeed + i;
            var rng = new Random(seed);
            var version = rng.Next(2) == 0 ? 6 : 7;
            var bigEndian = rng.Next(2) == 0;
            var longSize = rng.Next(2) == 0 ? 4 : 8;
            var trace = new SyntheticTrace(seed, bigEndian, longSize);
            var cpus = 1 + rng.Next(4);
            var events = RandomEvents(rng, trace, cpus);
            var options = new TraceDatWriterOptions
            {
                Version = version,
                Compression = version == 6 ? DatCompression.None : (DatCompression)rng.Next(3),
                BigEndian = bigEndian,
                LongSize = longSize,
                PageSize = rng.Next(3) == 0 ? 8192 : 4096,
                SubBufferSize = version == 7 && rng.Next(4) == 0 ? 16384 : 0,
                CpuCount = cpus,
                ChunkPages = 1 + rng.Next(12),
                LengthInArrayAlways = rng.Next(4) == 0,
                AbsoluteTimeStampEvery = rng.Next(3) == 0 ? 1 + rng.Next(20) : 0,
                DiscardedEventEvery = rng.Next(3) == 0 ? 1 + rng.Next(20) : 0,
                Formats = SyntheticTrace.Formats,
                Comms = trace.Comms,
            };

            var actual = WriterRoundTripTests.WriteAndRead(options, events, out var reader);

            var expected = WriterRoundTripTests.Expected(events, trace, bigEndian);
            Assert.True(expected.SequenceEqual(actual), $"seed {seed}: {expected.Count} events expected, {actual.Count} read; first difference at "
                + expected.Zip(actual).TakeWhile(p => p.First == p.Second).Count());
            Assert.True(reader.Diagnostics.Count == 0, $"seed {seed}: unexpected diagnostics");
        }
    }

    private static List<DatEvent> RandomEvents(Random rng, SyntheticTrace trace, int cpus)
    {
        var names = new[] { "map", "unmap", "mm_page_alloc", "mm_page_free", "mm_page_free_batched", "dma_map_page", "print" };
        var builders = names.ToDictionary(n => n, n => new PayloadBuilder(trace.Format(n)));
        var events = new List<DatEvent>();
        var shared = 1_000_000UL;
        for (var cpu = 0; cpu < cpus; cpu++)
        {
            var time = 1_000_000UL;
            var count = rng.Next(600);
            for (var k = 0; k < count; k++)
            {
                time += rng.Next(10) switch
                {
                    0 => 0,                                        // same timestamp as the previous event
                    1 => (ulong)rng.NextInt64(1L << 27, 1L << 40), // needs a time extend
                    _ => (ulong)rng.Next(1, 50_000),
                };

                // Now and then every CPU gets the same timestamp (ties go to the lower CPU).
                var stamp = rng.Next(25) == 0 ? Math.Max(time, shared) : time;
                time = stamp;
                var name = names[rng.Next(names.Length)];
                var b = builders[name].Reset(rng.Next(5) == 0 ? 0 : 100 + rng.Next(40));
                switch (name)
                {
                    case "print":
                        b.Set("ip", (ulong)rng.NextInt64()).SetString("buf", new string('x', rng.Next(400)));
                        break;
                    case "dma_map_page":
                        b.SetString("device", new string('d', 1 + rng.Next(60))).Set("phys_addr", (ulong)rng.NextInt64()).Set("size", 4096);
                        break;
                    default:
                        foreach (var f in trace.Format(name).Fields)
                        {
                            if (!f.IsCommon)
                            {
                                b.TrySet(f.Name, (ulong)rng.NextInt64());
                            }
                        }

                        break;
                }

                events.Add(new DatEvent(cpu, stamp, b.ToArray()));
            }

            shared = Math.Max(shared, time);
        }

        return events;
    }
}
