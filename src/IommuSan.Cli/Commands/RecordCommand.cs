using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using IommuSan.Recording;

namespace IommuSan.Cli.Commands;

/// <summary>
/// <c>iommusan record -o trace.dat -- COMMAND</c>: records the events IommuSan needs on this
/// Linux machine while COMMAND runs (root). Adds the domain-carrying kprobes for the running
/// architecture where the kernel has the functions, records with trace-cmd when installed and
/// otherwise with a private tracefs instance (text output), and removes every probe it added,
/// also on Ctrl-C or SIGTERM. <c>--print-script</c> prints the same recorder as a POSIX sh script.
/// </summary>
internal static class RecordCommand
{
    private const int SigInt = 2;

    public static Command Create()
    {
        var output = new Option<string?>("--output", "-o") { Description = "Output file: a trace.dat with trace-cmd, the tracefs text otherwise (default trace.dat / trace.txt)." };
        var printScript = new Option<bool>("--print-script") { Description = "Print a POSIX sh script that records the same way, for targets without .NET, and exit." };
        var tracefs = new Option<string?>("--tracefs") { Description = "tracefs mount point (default: /sys/kernel/tracing, then /sys/kernel/debug/tracing)." };
        var kprobes = new Option<KprobeMode>("--kprobes") { Description = "Add the kprobes that carry the IOMMU domain: Auto (when possible), Yes (fail otherwise), No.", DefaultValueFactory = _ => KprobeMode.Auto };
        var useTracefs = new Option<bool>("--no-trace-cmd") { Description = "Record through tracefs directly even when trace-cmd is installed." };
        var bufferKb = new Option<int>("--buffer-kb", "-b") { Description = "Ring buffer size per CPU in KiB.", DefaultValueFactory = _ => 16384 };
        var commandArgs = new Argument<string[]>("command") { Description = "The command to run while recording (after --).", Arity = ArgumentArity.ZeroOrMore };

        var command = new Command("record", "Record the kernel events IommuSan needs while a command runs (Linux, root).")
        {
            output, printScript, tracefs, kprobes, useTracefs, bufferKb, commandArgs,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(printScript))
            {
                Console.Out.Write(RecordScript.Generate());
                return ExitCodes.Ok;
            }

            var args = parse.GetValue(commandArgs) ?? [];
            if (args.Length == 0)
            {
                Console.Error.WriteLine("iommusan: record needs a command to run: iommusan record -o trace.dat -- COMMAND [ARGS...]");
                return ExitCodes.UsageOrInput;
            }

            return Run(new Options(
                parse.GetValue(output), parse.GetValue(tracefs), parse.GetValue(kprobes), parse.GetValue(useTracefs),
                parse.GetValue(bufferKb), args));
        });
        return command;
    }

    private sealed record Options(string? Output, string? Tracefs, KprobeMode Kprobes, bool NoTraceCmd, int BufferKb, string[] Command);

    private static int Run(Options options)
    {
        if (!OperatingSystem.IsLinux())
        {
            Console.Error.WriteLine("iommusan: record works on Linux only (it uses the kernel's tracefs); use --print-script for other targets' shells");
            return ExitCodes.UsageOrInput;
        }

        if (options.BufferKb <= 0)
        {
            Console.Error.WriteLine("iommusan: --buffer-kb must be positive");
            return ExitCodes.UsageOrInput;
        }

        if (options.Tracefs is null && !Environment.IsPrivilegedProcess)
        {
            // tracefs and kprobe_events are root-only; an explicit --tracefs may be a test tree.
            Console.Error.WriteLine("iommusan: record needs root (sudo iommusan record ...)");
            return ExitCodes.UsageOrInput;
        }

        var root = options.Tracefs ?? TracefsFeatures.FindRoot();
        if (root is null)
        {
            Console.Error.WriteLine("iommusan: no tracefs found; mount it (mount -t tracefs nodev /sys/kernel/tracing) or pass --tracefs");
            return ExitCodes.UsageOrInput;
        }

        var features = TracefsFeatures.Load(root);
        RecordingPlan plan;
        try
        {
            plan = RecordingPlan.Create(features, KprobeArchitecture.Current, options.Kprobes);
        }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine($"iommusan: {ex.Message}");
            return ExitCodes.UsageOrInput;
        }

        foreach (var note in plan.Notes)
        {
            Console.Error.WriteLine($"iommusan: note: {note}");
        }

        var traceCmd = options.NoTraceCmd ? null : FindOnPath("trace-cmd");
        var outputPath = options.Output ?? (traceCmd is null ? "trace.txt" : "trace.dat");

        // Ctrl-C reaches the whole foreground process group, so trace-cmd and the command stop by
        // themselves; we only must not die before removing the probes. SIGTERM reaches us alone:
        // pass it on to the child as SIGINT so trace-cmd still finishes its file.
        Process? child = null;
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => context.Cancel = true);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            var running = child;
            if (running is not null && !running.HasExited)
            {
                _ = NativeMethods.Kill(running.Id, SigInt);
            }
        });

        using var probes = new KprobeSession(root);
        foreach (var problem in probes.AddAll(plan.Probes))
        {
            Console.Error.WriteLine($"iommusan: {problem}");
        }

        var events = new List<string>(plan.Events);
        foreach (var name in probes.Available)
        {
            events.Add(ProbeSpec.EventNameOf(name));
        }

        Console.Error.WriteLine($"iommusan: recording {string.Join(' ', events)}");
        int rc;
        if (traceCmd is not null)
        {
            var start = new ProcessStartInfo(traceCmd) { UseShellExecute = false };
            start.ArgumentList.Add("record");
            start.ArgumentList.Add("-b");
            start.ArgumentList.Add(options.BufferKb.ToString(CultureInfo.InvariantCulture));
            start.ArgumentList.Add("-o");
            start.ArgumentList.Add(outputPath);
            foreach (var e in events)
            {
                start.ArgumentList.Add("-e");
                start.ArgumentList.Add(e);
            }

            foreach (var a in options.Command)
            {
                start.ArgumentList.Add(a);
            }

            child = Process.Start(start) ?? throw new IOException("could not start trace-cmd");
            child.WaitForExit();
            rc = child.ExitCode;
            if (!File.Exists(outputPath))
            {
                // trace-cmd gives up early on some kernels (e.g. "Can't enable ftrace" when the
                // function tracer is locked down) while plain event tracing still works.
                Console.Error.WriteLine($"iommusan: trace-cmd exited with {rc} and wrote no {outputPath}; record through tracefs instead with --no-trace-cmd");
                return ExitCodes.UsageOrInput;
            }
        }
        else
        {
            var name = "iommusan-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            using var instance = TracefsInstance.Create(root, name, options.BufferKb, events);
            foreach (var problem in instance.Problems)
            {
                Console.Error.WriteLine($"iommusan: {problem}");
            }

            var start = new ProcessStartInfo(options.Command[0]) { UseShellExecute = false };
            foreach (var a in options.Command.AsSpan(1))
            {
                start.ArgumentList.Add(a);
            }

            start.Environment["IOMMUSAN_INSTANCE"] = instance.Path;
            instance.Start();
            try
            {
                child = Process.Start(start) ?? throw new IOException($"could not start {options.Command[0]}");
                child.WaitForExit();
                rc = child.ExitCode;
            }
            finally
            {
                instance.Stop();
            }

            instance.CopyTraceTo(outputPath);
        }

        Console.Error.WriteLine($"iommusan: wrote {outputPath}; check it with: iommusan check {outputPath}");
        if (rc != 0)
        {
            // The trace is still complete and worth checking; the status says the command failed.
            Console.Error.WriteLine($"iommusan: the recorded command exited with {rc}");
            return ExitCodes.UsageOrInput;
        }

        return ExitCodes.Ok;
    }

    private static string? FindOnPath(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Kill(int pid, int signal);
    }
}
