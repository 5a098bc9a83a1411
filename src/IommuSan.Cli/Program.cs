using System.CommandLine;
using IommuSan.Cli.Commands;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var root = new RootCommand("IommuSan: finds pages freed while an IOMMU can still DMA into them (DMA use-after-free).");
        foreach (var command in CommandSet.All())
        {
            root.Subcommands.Add(command);
        }

        try
        {
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0)
            {
                foreach (var error in parse.Errors)
                {
                    Console.Error.WriteLine($"iommusan: {error.Message}");
                }

                return ExitCodes.UsageOrInput;
            }

            // Without this, System.CommandLine prints its own "Unhandled exception" stack trace and
            // returns 1, and the one-line handlers below never see the exception.
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (TraceDataException ex)
        {
            // Bad input is the user's data, not our bug: one line naming file and place, no stack trace.
            Console.Error.WriteLine($"iommusan: {ex.Message}");
            return ExitCodes.UsageOrInput;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"iommusan: {ex.Message}");
            return ExitCodes.UsageOrInput;
        }
    }
}
