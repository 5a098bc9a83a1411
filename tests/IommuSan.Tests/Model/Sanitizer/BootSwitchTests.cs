using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>iommu.debug_pagealloc= on the kernel command line switches the sanitizer on at boot.</summary>
public sealed class BootSwitchTests
{
    [Theory]
    [InlineData("iommu.debug_pagealloc=1", true)]
    [InlineData("iommu.debug_pagealloc=y", true)]
    [InlineData("iommu.debug_pagealloc=Yes", true)]
    [InlineData("iommu.debug_pagealloc=on", true)]
    [InlineData("iommu.debug_pagealloc=true", true)]
    [InlineData("iommu.debug_pagealloc=0", false)]
    [InlineData("iommu.debug_pagealloc=off", false)]
    [InlineData("iommu.debug_pagealloc=n", false)]
    [InlineData("console=ttyS0 iommu.debug_pagealloc=1 iommu.debug_pagealloc=0", false)]
    [InlineData("iommu.debug_pagealloc=0 quiet iommu.debug_pagealloc=on", true)]
    [InlineData("console=ttyS0 intel_iommu=on", false)]
    [InlineData("root=/dev/vda -- iommu.debug_pagealloc=1", false)]
    [InlineData("iommu.debug_pagealloc_x=1", false)]
    [InlineData("", false)]
    public void Command_line_value_is_read_like_kstrtobool(string commandLine, bool enabled)
    {
        Assert.Equal(enabled, DebugPageallocParam.Parse(commandLine).Enabled);
    }

    [Theory]
    [InlineData("iommu.debug_pagealloc")]
    [InlineData("iommu.debug_pagealloc=")]
    [InlineData("iommu.debug_pagealloc=maybe")]
    [InlineData("iommu.debug_pagealloc=o")]
    public void Malformed_values_leave_the_sanitizer_off(string commandLine)
    {
        var param = DebugPageallocParam.Parse(commandLine);

        Assert.True(param.Malformed);
        Assert.False(param.Enabled);
    }

    [Fact]
    public void Disabled_sanitizer_counts_nothing_and_finds_nothing()
    {
        var machine = new ModelMachine(PageSize.Shift4K, 16UL << 20, SanitizerMode.KernelExact, "console=ttyS0");
        var domain = machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock);
        var pfn = machine.Allocator.AllocPages(0, Gfp.Kernel, "test");

        machine.Core.Map(domain, 0x1000, machine.Paddr(pfn), 0x1000);
        machine.Allocator.FreePages(pfn, 0);

        Assert.False(machine.Sanitizer.Enabled);
        Assert.Equal(0, machine.Sanitizer.GetCount(pfn));
        Assert.Equal(0, machine.Findings.Count);
    }
}
