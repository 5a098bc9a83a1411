using System.CommandLine;

namespace IommuSan.Cli.Commands;

/// <summary><c>iommusan demo</c>: runs the model's built-in DMA use-after-free scenario.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var command = new Command("demo", "Run the model's demo scenario: a page freed while still IOMMU-mapped.");
        command.SetAction(_ =>
        {
            Console.WriteLine("demo: the model lands with issue 2.");
            return ExitCodes.Ok;
        });
        return command;
    }
}
