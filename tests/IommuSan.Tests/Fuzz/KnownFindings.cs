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
        // None open: the four findings of the first long runs are fixed and their regression tests run.
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
