namespace IommuSan.Cli;

/// <summary>The exit-code contract (README "Exit codes"); CI systems rely on these values.</summary>
internal static class ExitCodes
{
    /// <summary>The command did its job and found nothing to report.</summary>
    public const int Ok = 0;

    /// <summary><c>check</c> found at least one finding that fails the run.</summary>
    public const int Findings = 1;

    /// <summary>Bad usage, or an input that could not be read (named in a one-line error).</summary>
    public const int UsageOrInput = 2;
}
