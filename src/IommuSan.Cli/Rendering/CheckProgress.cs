using IommuSan.Reporting;
using IommuSan.Trace.Records;
using Spectre.Console;

namespace IommuSan.Cli.Rendering;

/// <summary>
/// A Spectre.Console progress bar on stderr while a trace is checked, only when both stdout and
/// stderr are terminals (never in pipes, CI logs or files); it appears after a short delay so
/// small traces finish without one.
/// </summary>
internal static class CheckProgress
{
    public static CheckReport Run(ITraceSource source, bool allowed, Func<Action<long, long>, CheckReport> check)
    {
        if (!allowed || Console.IsOutputRedirected || Console.IsErrorRedirected)
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
