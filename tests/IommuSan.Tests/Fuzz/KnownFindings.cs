namespace IommuSan.Tests.Fuzz;

/// <summary>
/// Findings already turned into skipped regression tests under Regressions/, waiting for a fix in the reader.
/// The fuzz tests report these but do not fail on them, so a new finding stands out; delete the entry (and
/// un-skip its regression test) when the fix lands.
/// </summary>
internal static class KnownFindings
{
    private static readonly (FuzzVerdict Verdict, string DetailContains, string RegressionTest)[] Entries =
    [
        (FuzzVerdict.Crash, "System.IO.EndOfStreamException: Premature end of stream", "CompressedInputRegressionTests.A_truncated_zstd_trace_is_a_data_error_not_a_crash"),
        (FuzzVerdict.Crash, "CPU page size must be 4K, 16K or 64K", "CheckRegressionTests.A_trace_dat_with_a_page_size_the_model_lacks_is_a_data_error_not_a_crash"),
        (FuzzVerdict.Unlocated, "corrupt compressed data", "CompressedInputRegressionTests.Corrupt_deflate_data_is_rejected_with_a_byte_offset"),
    ];

    /// <summary>The regression test that pins this failure, or null when it is new.</summary>
    public static string? Match(FuzzResult result)
    {
        foreach (var (verdict, contains, test) in Entries)
        {
            if (result.Verdict == verdict && result.Detail.Contains(contains, StringComparison.Ordinal))
            {
                return test;
            }
        }

        return null;
    }
}
