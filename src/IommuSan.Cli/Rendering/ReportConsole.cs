using IommuSan.Reporting;
using Spectre.Console;

namespace IommuSan.Cli.Rendering;

/// <summary>
/// Writes a <see cref="TextReport"/> to stdout: coloured through Spectre.Console on a terminal,
/// plain text when stdout is redirected or NO_COLOR is set (https://no-color.org).
/// </summary>
internal sealed class ReportConsole
{
    private readonly IAnsiConsole? _ansi;

    private ReportConsole(IAnsiConsole? ansi)
    {
        _ansi = ansi;
    }

    public static bool ColourAllowed =>
        !Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));

    public static ReportConsole ForStdout() => new(ColourAllowed
        ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out), Ansi = AnsiSupport.Detect })
        : null);

    public void Write(IEnumerable<TextLine> lines)
    {
        foreach (var line in lines)
        {
            if (_ansi is null)
            {
                Console.Out.WriteLine(line.Text);
                continue;
            }

            var style = line.Style switch
            {
                TextStyle.CutHere => "grey",
                TextStyle.Warning => "bold red",
                TextStyle.Label => "cyan",
                TextStyle.Dim => "grey",
                TextStyle.Info => "yellow",
                TextStyle.SummaryOk => "bold green",
                TextStyle.SummaryFail => "bold red",
                _ => null,
            };
            var text = Markup.Escape(line.Text);
            _ansi.MarkupLine(style is null ? text : $"[{style}]{text}[/]");
        }
    }
}
