using IommuSan.Model;
using IommuSan.Model.Memory;

namespace IommuSan.Tests.Model.Memory;

/// <summary>The physical memory map: RAM, MMIO and holes, with the CPU page size.</summary>
public sealed class PhysicalMemoryLayoutTests
{
    [Fact]
    public void Ram_mmio_and_holes_are_told_apart()
    {
        var memory = new PhysicalMemory(PageSize.Shift16K,
        [
            new PhysicalRange(0x8000_0000, 0x4000_0000, PhysicalRangeKind.Ram),
            new PhysicalRange(0x1000_0000, 0x1000_0000, PhysicalRangeKind.Mmio),
        ]);

        Assert.True(memory.IsRam(0x8000_0000));
        Assert.False(memory.IsRam(0x1000_0000));
        Assert.False(memory.IsRam(0x0));
        Assert.Equal(0x4000_0000UL, memory.TotalRamBytes);
        Assert.Equal(16384UL, memory.PageSizeBytes);
    }

    [Fact]
    public void Overlapping_or_unaligned_ranges_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new PhysicalMemory(PageSize.Shift4K,
        [
            new PhysicalRange(0x1000, 0x2000, PhysicalRangeKind.Ram),
            new PhysicalRange(0x2000, 0x1000, PhysicalRangeKind.Mmio),
        ]));
        Assert.Throws<ArgumentException>(() => new PhysicalMemory(PageSize.Shift16K, [new PhysicalRange(0x1000, 0x4000, PhysicalRangeKind.Ram)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PhysicalMemory(13, []));
    }
}
