using System.CommandLine;

namespace IommuSan.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var root = new RootCommand("IommuSan: finds pages freed while an IOMMU can still DMA into them.");
        return root.Parse(args).Invoke();
    }
}
