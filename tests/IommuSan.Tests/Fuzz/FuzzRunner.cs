using System.Globalization;
using IommuSan.Replay;
using IommuSan.Trace;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Tests.Fuzz;

/// <summary>What went wrong with one input, if anything.</summary>
internal enum FuzzVerdict
{
    /// <summary>Read to the end, or rejected with a located TraceDataException.</summary>
    Ok,

    /// <summary>An exception other than TraceDataException escaped (a bug: the CLI would print a stack trace).</summary>
    Crash,

    /// <summary>Did not finish within the time guard.</summary>
    Hang,

    /// <summary>Allocated more than the cap for one input (an allocation sized by untrusted data).</summary>
    Allocation,

    /// <summary>A TraceDataException that does not name the file, or names neither a byte offset nor a line.</summary>
    Unlocated,

    /// <summary>The diagnostics bag grew past its bound.</summary>
    Diagnostics,
}

/// <summary>The outcome of one fuzz case.</summary>
internal sealed record FuzzResult(FuzzVerdict Verdict, string Detail, long Events, long AllocatedBytes, TimeSpan Elapsed);

/// <summary>
/// Runs one input the way a user's file is read: written to a file, opened with <see cref="TraceFile.Open"/>,
/// every event enumerated (and, when asked, the whole <c>check</c> replayed), on a worker thread under a
/// time guard, with the bytes that thread allocated counted.
/// </summary>
internal static class FuzzRunner
{
    /// <summary>Per-input allocation cap: generous for a 2 MB trace read whole (tens of MB), far below "sized by a corrupt u64".</summary>
    public const long AllocationCap = 256L << 20;

    /// <summary>Distinct diagnostics allowed: the catalogue is small and folds repeats per kind and CPU.</summary>
    public const int DiagnosticsCap = 256;

    public static TimeSpan TimeGuard { get; } = TimeSpan.FromSeconds(
        int.TryParse(Environment.GetEnvironmentVariable("IOMMUSAN_FUZZ_TIMEOUT_SECONDS"), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 10);

    public static FuzzResult Run(byte[] input, FuzzSeed seed, bool check)
    {
        var path = Path.Combine(Path.GetTempPath(), $"iommusan-fuzz-{Guid.NewGuid():N}{seed.Extension}");
        File.WriteAllBytes(path, input);
        using var cts = new CancellationTokenSource();
        long events = 0;
        long allocated = 0;
        var diagnostics = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var task = Task.Factory.StartNew(
            () =>
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                try
                {
                    var options = new TraceOpenOptions(FormatsDirectory: seed.FormatsDirectory);
                    using (var source = TraceFile.Open(path, options))
                    {
                        foreach (var e in source.ReadEvents(null, cts.Token))
                        {
                            events++;
                        }

                        diagnostics = source.Diagnostics.Count;
                    }

                    if (check)
                    {
                        using var again = TraceFile.Open(path, options);
                        _ = TraceChecker.Check(again, new CheckOptions(), o => new ModelSanitizerDriver(o), "fuzz", cancellationToken: cts.Token);
                        diagnostics = Math.Max(diagnostics, again.Diagnostics.Count);
                    }
                }
                finally
                {
                    allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                }
            },
            cts.Token,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        try
        {
            if (!task.Wait(TimeGuard))
            {
                cts.Cancel();
                return new FuzzResult(FuzzVerdict.Hang, $"no result within {TimeGuard.TotalSeconds:0} s after {events} events", events, allocated, clock.Elapsed);
            }
        }
        catch (AggregateException ae)
        {
            var elapsed = clock.Elapsed;
            var ex = ae.InnerException!;
            if (allocated > AllocationCap)
            {
                return new FuzzResult(FuzzVerdict.Allocation, $"{allocated >> 20} MiB allocated, then {ex.GetType().Name}: {ex.Message}", events, allocated, elapsed);
            }

            if (ex is not TraceDataException tde)
            {
                return new FuzzResult(FuzzVerdict.Crash, $"{ex.GetType().FullName}: {ex.Message}\n{ex.StackTrace}", events, allocated, elapsed);
            }

            if (tde.File != path || (tde.ByteOffset is null && tde.Line is null))
            {
                return new FuzzResult(FuzzVerdict.Unlocated, $"{(tde.File == path ? "names the file" : "names another file")}, offset {tde.ByteOffset?.ToString(CultureInfo.InvariantCulture) ?? "none"}, line {tde.Line?.ToString(CultureInfo.InvariantCulture) ?? "none"}: {tde.Problem}", events, allocated, elapsed);
            }

            return new FuzzResult(FuzzVerdict.Ok, tde.Problem, events, allocated, elapsed);
        }
        finally
        {
            TryDelete(path);
        }

        var took = clock.Elapsed;
        if (allocated > AllocationCap)
        {
            return new FuzzResult(FuzzVerdict.Allocation, $"{allocated >> 20} MiB allocated reading {events} events", events, allocated, took);
        }

        return diagnostics > DiagnosticsCap
            ? new FuzzResult(FuzzVerdict.Diagnostics, $"{diagnostics} distinct diagnostics", events, allocated, took)
            : new FuzzResult(FuzzVerdict.Ok, "read to the end", events, allocated, took);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // A hung reader still holds the file open; the temp directory is cleaned eventually.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
