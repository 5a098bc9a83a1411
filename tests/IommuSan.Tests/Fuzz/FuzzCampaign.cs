using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace IommuSan.Tests.Fuzz;

/// <summary>
/// Runs many seeded cases against one seed set and collects what went wrong. Case <c>i</c> uses case seed
/// <c>base + i</c>; that one number picks the seed file and every mutation, so any finding replays alone with
/// <c>IOMMUSAN_FUZZ_CASE=&lt;case seed&gt;</c>. Knobs (environment, all optional):
/// IOMMUSAN_FUZZ_ITERATIONS (cases per target), IOMMUSAN_FUZZ_SEED (base seed), IOMMUSAN_FUZZ_BUDGET_SECONDS
/// (stop a target early), IOMMUSAN_FUZZ_CASE (run exactly one case), IOMMUSAN_FUZZ_OUT (save failing inputs),
/// IOMMUSAN_FUZZ_TIMEOUT_SECONDS (per-input time guard, default 10), IOMMUSAN_FUZZ_CHECK_EVERY (default 8).
/// </summary>
internal static class FuzzCampaign
{
    public const int DefaultBaseSeed = 20261124;

    /// <summary>Every this many cases also runs the whole check (replay, model, report), not only the reader
    /// (IOMMUSAN_FUZZ_CHECK_EVERY; 0 never, to explore the readers past a known check hang).</summary>
    public static int CheckEvery { get; } = EnvInt("IOMMUSAN_FUZZ_CHECK_EVERY") ?? 8;

    public static string Run(string target, IReadOnlyList<FuzzSeed> seeds, int defaultIterations)
    {
        var baseSeed = EnvInt("IOMMUSAN_FUZZ_SEED") ?? DefaultBaseSeed;
        var iterations = EnvInt("IOMMUSAN_FUZZ_ITERATIONS") ?? defaultIterations;
        var budget = EnvInt("IOMMUSAN_FUZZ_BUDGET_SECONDS") is { } b ? TimeSpan.FromSeconds(b) : TimeSpan.MaxValue;
        var only = EnvInt("IOMMUSAN_FUZZ_CASE");
        var outDir = Environment.GetEnvironmentVariable("IOMMUSAN_FUZZ_OUT");

        var findings = new List<string>();
        var bySignature = new Dictionary<string, int>(StringComparer.Ordinal);
        var known = new Dictionary<string, int>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        var ran = 0;
        long rejected = 0;
        long maxAllocated = 0;
        var slowest = TimeSpan.Zero;
        var stoppedByHang = false;
        for (var i = 0; i < iterations && clock.Elapsed < budget; i++)
        {
            var caseSeed = only ?? (baseSeed + i);
            var (result, description, seed, input) = RunCase(seeds, caseSeed);
            ran++;
            maxAllocated = Math.Max(maxAllocated, result.AllocatedBytes);
            slowest = result.Elapsed > slowest ? result.Elapsed : slowest;
            if (result.Verdict == FuzzVerdict.Ok)
            {
                rejected += result.Detail == "read to the end" ? 0 : 1;
            }
            else if (KnownFindings.Match(result) is { } regressionTest)
            {
                known[regressionTest] = known.GetValueOrDefault(regressionTest) + 1;
            }
            else
            {
                // One report per kind of failure and place (first line of the detail: exception type and message shape).
                var signature = $"{result.Verdict}: {Signature(result.Detail)}";
                var seen = bySignature.GetValueOrDefault(signature);
                bySignature[signature] = seen + 1;
                if (seen < 3)
                {
                    var saved = Save(outDir, target, caseSeed, seed, input);
                    findings.Add(string.Create(
                        CultureInfo.InvariantCulture,
                        $"[{target}] case {caseSeed} on {seed.Name} ({input.Length} bytes) -> {result.Verdict} after {result.Elapsed.TotalSeconds:0.0} s, {result.Events} events, {result.AllocatedBytes >> 20} MiB\n  mutations: {description}\n  {result.Detail.Replace("\n", "\n    ", StringComparison.Ordinal)}\n  replay: IOMMUSAN_FUZZ_CASE={caseSeed} dotnet test tests/IommuSan.Tests --filter \"FullyQualifiedName~Fuzz.{target}\"{saved}"));
                }
            }

            if (only is not null)
            {
                break;
            }

            if (result.Verdict == FuzzVerdict.Hang)
            {
                // The hung worker cannot be stopped and may keep allocating: end this target now, so the
                // process (and the worker with it) exits, rather than let a long run eat the machine.
                stoppedByHang = true;
                break;
            }
        }

        var summary = new StringBuilder();
        summary.Append(CultureInfo.InvariantCulture, $"[{target}] {ran} cases in {clock.Elapsed.TotalSeconds:0.0} s (base seed {baseSeed}): {rejected} rejected with a located error, ");
        summary.Append(CultureInfo.InvariantCulture, $"{ran - rejected - bySignature.Values.Sum() - known.Values.Sum()} read to the end, {known.Values.Sum()} known failures, {bySignature.Values.Sum()} new failures in {bySignature.Count} kinds; ");
        summary.Append(CultureInfo.InvariantCulture, $"slowest {slowest.TotalSeconds:0.00} s, most allocated {maxAllocated >> 20} MiB{(stoppedByHang ? "; stopped early by a hang" : string.Empty)}\n");
        foreach (var (test, count) in known)
        {
            summary.Append(CultureInfo.InvariantCulture, $"  {count} x known, pinned by {test}\n");
        }

        foreach (var (signature, count) in bySignature)
        {
            summary.Append(CultureInfo.InvariantCulture, $"  {count} x {signature}\n");
        }

        foreach (var f in findings)
        {
            summary.Append(f).Append('\n');
        }

        if (outDir is not null)
        {
            Directory.CreateDirectory(outDir);
            File.AppendAllText(Path.Combine(outDir, "summary.txt"), summary.ToString());
        }

        return findings.Count == 0 ? string.Empty : summary.ToString();
    }

    /// <summary>Builds case <paramref name="caseSeed"/>'s input and runs it.</summary>
    public static (FuzzResult Result, string Description, FuzzSeed Seed, byte[] Input) RunCase(IReadOnlyList<FuzzSeed> seeds, int caseSeed)
    {
        var rng = new Random(caseSeed);
        var seed = seeds[rng.Next(seeds.Count)];
        var input = Mutator.Mutate(seed, rng, out var description);
        var result = FuzzRunner.Run(input, seed, check: CheckEvery > 0 && caseSeed % CheckEvery == 0);
        return (result, description, seed, input);
    }

    private static string Signature(string detail)
    {
        var firstLine = detail.Split('\n')[0];

        // Numbers vary between cases of the same bug; fold them.
        var sb = new StringBuilder(firstLine.Length);
        var inNumber = false;
        foreach (var c in firstLine)
        {
            var digit = char.IsAsciiDigit(c);
            if (digit && !inNumber)
            {
                sb.Append('#');
            }
            else if (!digit)
            {
                sb.Append(c);
            }

            inNumber = digit;
        }

        var frame = detail.Split('\n').Skip(1).FirstOrDefault(l => l.Contains(" at IommuSan.", StringComparison.Ordinal))?.Trim();
        return frame is null ? sb.ToString() : $"{sb} | {frame}";
    }

    private static string Save(string? outDir, string target, int caseSeed, FuzzSeed seed, byte[] input)
    {
        if (outDir is null)
        {
            return string.Empty;
        }

        Directory.CreateDirectory(outDir);
        var path = Path.Combine(outDir, $"{target}-{caseSeed}{seed.Extension}");
        File.WriteAllBytes(path, input);
        return $"\n  input saved: {path}";
    }

    private static int? EnvInt(string name) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;
}
