namespace IommuSan.Tests.Fuzz;

/// <summary>
/// The mutation fuzzer: real captures, text fixtures, synthetic trace.dat files in every layout and
/// compressed wrappers, mutated deterministically and read through <c>TraceFile.Open</c> (every eighth
/// case through the whole check). Each input must end in events or a <c>TraceDataException</c> naming
/// the file and a byte offset or line: no other exception, no hang, no allocation sized by the input,
/// no unbounded diagnostics. Cheap by default; <c>bench/fuzz/run.sh</c> runs it for minutes.
/// </summary>
public sealed class MutatedInputsTests
{
    [Fact]
    public void Mutated_real_trace_dat_captures_fail_cleanly() =>
        AssertClean(FuzzCampaign.Run(nameof(Mutated_real_trace_dat_captures_fail_cleanly), FuzzSeeds.RealDat, defaultIterations: 16));

    [Fact]
    public void Mutated_synthetic_trace_dat_files_in_every_layout_fail_cleanly() =>
        AssertClean(FuzzCampaign.Run(nameof(Mutated_synthetic_trace_dat_files_in_every_layout_fail_cleanly), FuzzSeeds.SyntheticDat, defaultIterations: 150));

    [Fact]
    public void Mutated_text_traces_fail_cleanly() =>
        AssertClean(FuzzCampaign.Run(nameof(Mutated_text_traces_fail_cleanly), FuzzSeeds.Text, defaultIterations: 100));

    [Fact]
    public void Mutated_compressed_traces_fail_cleanly() =>
        AssertClean(FuzzCampaign.Run(nameof(Mutated_compressed_traces_fail_cleanly), FuzzSeeds.Compressed, defaultIterations: 40));

    [Fact]
    public void The_same_case_seed_makes_the_same_input()
    {
        foreach (var seeds in new[] { FuzzSeeds.SyntheticDat, FuzzSeeds.Text, FuzzSeeds.Compressed })
        {
            for (var caseSeed = 1; caseSeed < 20; caseSeed++)
            {
                var a = Mutate(seeds, caseSeed, out var da);
                var b = Mutate(seeds, caseSeed, out var db);
                Assert.Equal(da, db);
                Assert.Equal(a, b);
            }
        }
    }

    [Fact]
    public void The_real_v7_field_map_finds_the_sections_and_cpu_buffers()
    {
        // The length-aware mutations are only as good as this map: it must reach the per-CPU data entries.
        var fields = FuzzSeeds.RealDat[0].Fields!;
        Assert.Contains(fields, f => f.Name.EndsWith("cpu0 data offset", StringComparison.Ordinal));
        Assert.Contains(fields, f => f.Name.EndsWith("cpu1 data size", StringComparison.Ordinal));
        Assert.Contains(fields, f => f.Name.EndsWith("compressed size", StringComparison.Ordinal));
    }

    private static byte[] Mutate(IReadOnlyList<FuzzSeed> seeds, int caseSeed, out string description)
    {
        var rng = new Random(caseSeed);
        return Mutator.Mutate(seeds[rng.Next(seeds.Count)], rng, out description);
    }

    private static void AssertClean(string findings) => Assert.True(findings.Length == 0, findings);
}
