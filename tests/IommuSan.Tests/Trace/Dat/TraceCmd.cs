using System.Diagnostics;

namespace IommuSan.Tests.Trace.Dat;

/// <summary>
/// Debian's trace-cmd (the reference reader). Install it with
/// <c>apt-get update &amp;&amp; apt-get install -y trace-cmd</c> (bench/trace-dat.sh does); tests that need it
/// are skipped with that message when it is missing.
/// </summary>
internal static class TraceCmd
{
    public const string NotInstalled =
        "trace-cmd is not installed: run 'apt-get update && apt-get install -y trace-cmd' to check against Debian's trace-cmd report";

    private static readonly Lazy<string?> Executable = new(Find);

    public static bool IsInstalled => Executable.Value is not null;

    /// <summary>Compression algorithms this trace-cmd was built with ("zstd", maybe "zlib").</summary>
    public static IReadOnlyList<string> Compressions()
    {
        var (_, output, _) = Run(["list", "-c"]);
        return output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.StartsWith("Supported", StringComparison.Ordinal))
            .Select(l => l.Split(',')[0].Trim())
            .ToList();
    }

    /// <summary>Runs trace-cmd; returns exit code, stdout and stderr. Times out after two minutes.</summary>
    public static (int ExitCode, string Output, string Error) Run(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(Executable.Value ?? throw new InvalidOperationException(NotInstalled))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("trace-cmd did not finish in two minutes");
        }

        return (p.ExitCode, stdout, stderr.Result);
    }

    private static string? Find()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':'))
        {
            var candidate = Path.Combine(dir, "trace-cmd");
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

/// <summary>A fact that is skipped, saying how to install it, when trace-cmd is missing.</summary>
public sealed class TraceCmdFactAttribute : FactAttribute
{
    public TraceCmdFactAttribute()
    {
        if (!TraceCmd.IsInstalled)
        {
            Skip = TraceCmd.NotInstalled;
        }
    }
}

/// <summary>A theory that is skipped, saying how to install it, when trace-cmd is missing.</summary>
public sealed class TraceCmdTheoryAttribute : TheoryAttribute
{
    public TraceCmdTheoryAttribute()
    {
        if (!TraceCmd.IsInstalled)
        {
            Skip = TraceCmd.NotInstalled;
        }
    }
}
