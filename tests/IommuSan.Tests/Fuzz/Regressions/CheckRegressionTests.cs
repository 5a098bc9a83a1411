using IommuSan.Replay;
using IommuSan.Trace;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Tests.Fuzz.Regressions;

/// <summary>Fuzz findings in <c>check</c> (replay and model) on input the readers accept.</summary>
public sealed class CheckRegressionTests
{
    [Fact]
    public void A_trace_dat_with_a_page_size_the_model_lacks_is_a_data_error_not_a_crash()
    {
        // A synthetic v7 file (fuzz case 1000720, cut to 45190 bytes) whose initial-format page size says 8192.
        // The reader accepts any power-of-two page size; the model only knows 4K, 16K and 64K CPU pages.
        var path = RegressionGuard.Fixture("page-size-8k.dat");
        var tde = Assert.Throws<TraceDataException>(() => RegressionGuard.Guarded("check", () =>
        {
            using var source = TraceFile.Open(path);
            Assert.Equal(13, source.CpuPageShift);
            return TraceChecker.Check(source, new CheckOptions(), o => new ModelSanitizerDriver(o), "test");
        }));
        Assert.Equal(path, tde.File);
        Assert.Equal(14, tde.ByteOffset);
        Assert.Contains("8192", tde.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void An_iommu_map_with_an_absurd_size_is_reported_as_damage_within_the_time_guard()
    {
        // The header and first map line of Fixtures/text/ftrace-irq-info.txt with size=0xff00000000000000 (fuzz cases
        // 1013072 and 1010200 reached the same loop through corrupt trace.dat payloads).
        var path = RegressionGuard.Fixture("huge-iommu-map.txt");
        var report = RegressionGuard.Guarded("check", () =>
        {
            using var source = TraceFile.Open(path);
            return TraceChecker.Check(source, new CheckOptions(), o => new ModelSanitizerDriver(o), "test");
        });
        // Whatever the fix calls it, the corrupt map must be reported as damage (not info) rather than replayed.
        Assert.Contains(report.Diagnostics, d => d.Severity != "info");
    }

    [Fact]
    public void A_map_just_under_a_terabyte_is_damage_and_costs_no_gigabyte_of_counters()
    {
        // Fuzz case 52512 (bench/fuzz/run.sh, seed 2411): one byte of a synthetic v7 file made an iommu:map of
        // 0xfe00000000 bytes (1016 GiB), under the old 1 TiB cap; replaying it gave every 4K page a counter,
        // 1 GiB of model memory for a 45 KB trace.
        var path = RegressionGuard.Fixture("map-of-1016-gib.dat");
        var (report, allocated) = RegressionGuard.Guarded("check", () =>
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            using var source = TraceFile.Open(path);
            var result = TraceChecker.Check(source, new CheckOptions(), o => new ModelSanitizerDriver(o), "test");
            return (result, GC.GetAllocatedBytesForCurrentThread() - before);
        });

        var damage = Assert.Single(report.Diagnostics, d => d.Kind == DiagnosticCatalog.ImplausibleRange.Id);
        Assert.Contains("size=0xfe00001000", damage.Detail, StringComparison.Ordinal);
        Assert.True(allocated < 64L << 20, $"{allocated >> 20} MiB allocated");
    }
}
