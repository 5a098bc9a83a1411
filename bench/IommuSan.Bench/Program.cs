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

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
