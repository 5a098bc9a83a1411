namespace IommuSan.Tests.Fuzz.Regressions;

/// <summary>Fuzz findings in the transparent gzip/zstd decompression of <c>TraceFile.Open</c>.</summary>
public sealed class CompressedInputRegressionTests
{
    [Fact]
    public void A_truncated_zstd_trace_is_a_data_error_not_a_crash()
    {
        // 200 bytes of the 431-byte zstd frame of the first 1000 bytes of Fixtures/text/ftrace-irq-info.txt.
        var e = RegressionGuard.Located(RegressionGuard.Fixture("truncated-zstd-text.txt.zst"));
        Assert.Contains("compressed", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Corrupt_deflate_data_is_rejected_with_a_byte_offset()
    {
        // gzip of the first 1000 bytes of Fixtures/text/ftrace-irq-info.txt with the first deflate block header set to 0xff (reserved block type).
        var e = RegressionGuard.Located(RegressionGuard.Fixture("corrupt-deflate-text.txt.gz"));
        Assert.Contains("corrupt compressed data", e.Problem, StringComparison.Ordinal);
    }
}
