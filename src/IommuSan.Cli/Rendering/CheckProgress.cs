using IommuSan.Reporting;
using IommuSan.Trace.Records;
using Spectre.Console;

namespace IommuSan.Cli.Rendering;

/// <summary>
/// A Spectre.Console progress bar on stderr while a trace is checked, only when both stdout and
/// stderr are terminals (never in pipes, CI logs or files), and only for inputs large enough to take
/// more than a moment (small traces finish before a bar would be worth drawing).
/// </summary>
internal static class CheckProgress
{
    /// <summary>Inputs smaller than this (as stored: compressed size for .gz/.zst) get no bar; the bundled samples check in well under a second.</summary>
    public const long MinBytesForProgress = 16L << 20;

    public static CheckReport Run(ITraceSource source, bool allowed, Func<Action<long, long>, CheckReport> check)
    {
        if (!allowed || Console.IsOutputRedirected || Console.IsErrorRedirected || source.Length < MinBytesForProgress)
        {
            return check((_, _) => { });
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        CheckReport? result = null;
        console.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Path.GetFileName(source.Path), autoStart: true, maxValue: Math.Max(1, source.Length));
                result = check((position, length) =>
                {
                    task.MaxValue = Math.Max(1, length);
                    task.Value = Math.Min(position, length);
                });
                task.Value = task.MaxValue;
            });
        return result!;
    }
}
