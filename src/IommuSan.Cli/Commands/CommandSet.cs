using System.CommandLine;

namespace IommuSan.Cli.Commands;

/// <summary>Every subcommand of <c>iommusan</c>; each lives in its own file and is listed here once.</summary>
internal static class CommandSet
{
    public static IEnumerable<Command> All()
    {
        yield return DemoCommand.Create();
        yield return DumpCommand.Create();
        yield return RecordCommand.Create();
        yield return CheckCommand.Create();
    }
}
