using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using IommuSan.Cli.Rendering;
using IommuSan.Replay;
using IommuSan.Reporting;
using IommuSan.Trace;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Cli.Commands;

/// <summary>
/// <c>iommusan check TRACE...</c>: replays each trace through the model and reports every page
/// freed or allocated while still IOMMU-mapped (and the sanitizer's other WARNs). One report per
/// trace; the exit code combines them (docs/check.md "Exit codes").
/// </summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var traces = new Argument<string[]>("trace")
        {
            Description = "Trace files: trace.dat (v6/v7), tracefs text, trace-cmd report or perf script text, optionally .gz/.zst.",
            Arity = ArgumentArity.OneOrMore,
        };
        var mode = new Option<string>("--mode")
        {
            Description = "precise (default): no blind spots; kernel: Linux 7.0's IOMMU_DEBUG_PAGEALLOC exactly, false positives included.",
            DefaultValueFactory = _ => "precise",
        };
        mode.AcceptOnlyFromAmong("precise", "kernel");
        var pageSize = new Option<string>("--page-size")
        {
            Description = "CPU page size of the traced machine, for text traces (trace.dat records it): 4K, 16K or 64K.",
            DefaultValueFactory = _ => "4K",
        };
        pageSize.AcceptOnlyFromAmong("4K", "16K", "64K", "4k", "16k", "64k");
        var json = new Option<string?>("--json") { Description = "Also write the JSON report (docs/schema/check-report.schema.json) to this file." };
        var format = new Option<string>("--format")
        {
            Description = "What to print on stdout: text (default) or json.",
            DefaultValueFactory = _ => "text",
        };
        format.AcceptOnlyFromAmong("text", "json");
        var showLive = new Option<bool>("--show-live") { Description = "List the mappings still live at the end of the trace (informational)." };
        var formats = new Option<string?>("--formats") { Description = "Directory of event format files for a text trace (tracefs events/ layout)." };
        var noProgress = new Option<bool>("--no-progress") { Description = "Never show a progress bar." };

        var command = new Command("check", "Check traces for pages freed or allocated while still IOMMU-mapped (DMA use-after-free).")
        {
            traces, mode, pageSize, json, format, showLive, formats, noProgress,
        };
        command.SetAction(parse => Run(
            parse.GetValue(traces) ?? [],
            new CheckOptions
            {
                Mode = parse.GetValue(mode) == "kernel" ? CheckMode.Kernel : CheckMode.Precise,
                CpuPageShift = PageShift(parse.GetValue(pageSize) ?? "4K"),
            },
            parse.GetValue(json),
            parse.GetValue(format) == "json",
            parse.GetValue(showLive),
            parse.GetValue(formats),
            !parse.GetValue(noProgress)));
        return command;
    }

    public static string ToolVersion =>
        typeof(CheckCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    private static int PageShift(string size) => size.ToUpperInvariant() switch
    {
        "16K" => 14,
        "64K" => 16,
        _ => 12,
    };

    private static int Run(string[] traces, CheckOptions options, string? jsonPath, bool jsonToStdout, bool showLive, string? formatsDir, bool progressAllowed)
    {
        var reports = new List<CheckReport>();
        var exit = ExitCodes.Ok;
        var console = ReportConsole.ForStdout();
        foreach (var path in traces)
        {
            CheckReport report;
            try
            {
                report = CheckOne(path, options, formatsDir, progressAllowed);
            }
            catch (Exception ex) when (ex is TraceDataException or IOException or UnauthorizedAccessException)
            {
                // One line per unreadable trace; the others are still checked.
                Console.Error.WriteLine($"iommusan: {ex.Message}");
                exit = ExitCodes.UsageOrInput;
                continue;
            }

            reports.Add(report);
            if (report.Summary.Findings > 0 && exit == ExitCodes.Ok)
            {
                exit = ExitCodes.Findings;
            }

            if (!jsonToStdout)
            {
                console.Write(TextReport.Render(report, showLive));
            }
        }

        var jsonText = reports.Count == 1 && traces.Length == 1
            ? reports[0].ToJson()
            : JsonSerializer.Serialize(reports, CheckReport.JsonOptions);
        if (jsonToStdout)
        {
            Console.Out.WriteLine(jsonText);
        }

        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, jsonText + "\n");
        }

        return exit;
    }

    private static CheckReport CheckOne(string path, CheckOptions options, string? formatsDir, bool progressAllowed)
    {
        // A capture folder keeps its event formats in formats/ beside the trace (tracefs layout): a text
        // trace needs them for kprobes (their fields are user-defined), so use them unless told otherwise.
        var besideTrace = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", "formats");
        formatsDir ??= Directory.Exists(besideTrace) ? besideTrace : null;
        using var source = TraceFile.Open(path, new TraceOpenOptions(FormatsDirectory: formatsDir));
        return CheckProgress.Run(source, progressAllowed, report =>
            TraceChecker.Check(source, options, o => new ModelSanitizerDriver(o), ToolVersion, report));
    }
}
