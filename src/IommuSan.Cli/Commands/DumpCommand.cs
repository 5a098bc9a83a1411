using System.CommandLine;
using IommuSan.Trace;
using IommuSan.Trace.Diagnostics;
using IommuSan.Trace.Records;

namespace IommuSan.Cli.Commands;

/// <summary>
/// <c>iommusan dump TRACE</c>: decodes any supported trace and prints one JSON object per event
/// (docs/dump.md). Diagnostics go to stderr at the end, one line each.
/// </summary>
internal static class DumpCommand
{
    public static Command Create()
    {
        var trace = new Argument<string>("trace") { Description = "Trace file: trace.dat (v6/v7), tracefs text, trace-cmd report or perf script output; .gz/.zst accepted." };
        var events = new Option<string?>("--events") { Description = "Only these events: sys:name,sys:name,sys (a bare system selects all its events)." };
        var format = new Option<string>("--format") { Description = "Input format: auto, dat, ftrace, trace-cmd or perf.", DefaultValueFactory = _ => "auto" };
        format.AcceptOnlyFromAmong("auto", "dat", "ftrace", "trace-cmd", "perf");
        var formats = new Option<string?>("--formats") { Description = "Event format files for text traces (tracefs events/ layout, or DIR/SYSTEM/EVENT.format)." };

        var command = new Command("dump", "Decode a trace and print its events as JSON lines.") { trace, events, format, formats };
        command.SetAction(parse =>
        {
            var options = new TraceOpenOptions(Kind: ParseKind(parse.GetValue(format)), FormatsDirectory: parse.GetValue(formats));
            using var stdout = Console.OpenStandardOutput();
            return Run(parse.GetRequiredValue(trace), options, EventFilter.Parse(parse.GetValue(events)), stdout, Console.Error);
        });
        return command;
    }

    /// <summary>The command's work, separate from console wiring so tests can run it in-process.</summary>
    public static int Run(string path, TraceOpenOptions options, EventFilter? filter, Stream output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            using var source = TraceFile.Open(path, options);
            using (var buffered = new BufferedStream(output, 1 << 16))
            using (var writer = new DumpJsonWriter(buffered))
            {
                foreach (var e in source.ReadEvents(filter))
                {
                    writer.Write(e);
                }
            }

            foreach (var d in source.Diagnostics.ToList())
            {
                error.WriteLine(FormatDiagnostic(path, d));
            }

            return ExitCodes.Ok;
        }
        catch (TraceDataException ex)
        {
            error.WriteLine($"iommusan: {ex.Message}");
            return ExitCodes.UsageOrInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"iommusan: {ex.Message}");
            return ExitCodes.UsageOrInput;
        }
    }

    internal static string FormatDiagnostic(string path, Diagnostic d)
    {
        var cpu = d.Cpu is { } c ? $" cpu {c}" : string.Empty;
        var at = d.Location is { } l ? $" at {l}" : string.Empty;
        return $"iommusan: {path}: {d.Kind.Id}{cpu}: {d.Count}{at}: {d.Detail}";
    }

    private static TraceKind? ParseKind(string? value) => value switch
    {
        "dat" => TraceKind.TraceDatV7,
        "ftrace" => TraceKind.FtraceText,
        "trace-cmd" => TraceKind.TraceCmdReport,
        "perf" => TraceKind.PerfScript,
        _ => null,
    };
}
