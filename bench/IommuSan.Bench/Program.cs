using BenchmarkDotNet.Running;

namespace IommuSan.Bench;

internal static class Program
{
    private static int Main(string[] args)
    {
        // "trace-dat generate|decode ...": the helper commands bench/scripts/trace-dat.sh uses.
        if (args.Length > 0 && args[0] == "trace-dat")
        {
            return TraceDat.TraceDatBenchTool.Run(args[1..]);
        }

        // "text-time FILE [N]": quick wall/CPU timings of the text reader's stages (tuning aid).
        if (args.Length > 1 && args[0] == "text-time")
        {
            return Text.TextTimeTool.Run(args[1..]);
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
