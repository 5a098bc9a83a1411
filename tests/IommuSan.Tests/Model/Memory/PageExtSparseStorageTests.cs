using IommuSan.Model;
using IommuSan.Model.Memory;

namespace IommuSan.Tests.Model.Memory;

/// <summary>page_ext costs memory only where pages with a struct page exist, like SPARSEMEM.</summary>
public sealed class PageExtSparseStorageTests
{
    private const ulong GiB = 1UL << 30;
    private const ulong TiB = 1UL << 40;

    [Fact]
    public void Known_map_allocates_sections_only_for_ram_even_with_terabytes_of_holes()
    {
        // 1 GiB of RAM low, 1 GiB at 4 TiB, a 256 GiB MMIO window between: 2 GiB / 128 MiB = 16 sections.
        var memory = new PhysicalMemory(PageSize.Shift4K,
        [
            new PhysicalRange(GiB, GiB, PhysicalRangeKind.Ram),
            new PhysicalRange(TiB, 256 * GiB, PhysicalRangeKind.Mmio),
            new PhysicalRange(4 * TiB, GiB, PhysicalRangeKind.Ram),
        ]);
        var ext = PageExt.ForMemoryMap(memory);

        Assert.Equal(16, ext.SectionsAllocated);
        Assert.True(ext.HasStructPage(GiB >> 12));
        Assert.True(ext.HasStructPage(((4 * TiB) + GiB - 4096) >> 12));
        Assert.False(ext.HasStructPage(TiB >> 12));
        Assert.False(ext.HasStructPage(0));
        Assert.False(ext.HasStructPage((2 * GiB) >> 12));
    }

    [Fact]
    public void Known_map_partial_section_has_struct_pages_only_inside_ram()
    {
        // RAM ends 4 MiB into a 128 MiB section: the rest of that section is a hole.
        var memory = new PhysicalMemory(PageSize.Shift4K, [new PhysicalRange(GiB, 4UL << 20, PhysicalRangeKind.Ram)]);
        var ext = PageExt.ForMemoryMap(memory);

        Assert.Equal(1, ext.SectionsAllocated);
        Assert.True(ext.HasStructPage((GiB + (4UL << 20) - 4096) >> 12));
        Assert.False(ext.HasStructPage((GiB + (4UL << 20)) >> 12));
    }

    [Fact]
    public void Unknown_map_creates_a_section_on_first_update_not_on_read()
    {
        var ext = PageExt.ForUnknownMemoryMap(PageSize.Shift4K);

        Assert.Equal(0, ext.GetCount(0x12345));
        Assert.True(ext.HasStructPage(0x12345));
        Assert.Equal(0, ext.SectionsAllocated);

        Assert.NotNull(ext.SectionForUpdate(0x12345));
        Assert.NotNull(ext.SectionForUpdate(0x12346));
        Assert.Equal(1, ext.SectionsAllocated);

        // A pfn near the top of a 52-bit physical space still works, in its own section.
        Assert.NotNull(ext.SectionForUpdate((1UL << 40) - 1));
        Assert.Equal(2, ext.SectionsAllocated);
    }

    [Fact]
    public void Unknown_map_mmio_marked_without_struct_page_costs_no_counters()
    {
        var ext = PageExt.ForUnknownMemoryMap(PageSize.Shift4K);

        // A 256 GiB BAR at 1 TiB: whole sections become a shared marker.
        ext.MarkNoStructPage(TiB >> 12, (256 * GiB) >> 12);

        Assert.Equal(0, ext.SectionsAllocated);
        Assert.False(ext.HasStructPage((TiB + GiB) >> 12));
        Assert.Null(ext.SectionForUpdate((TiB + GiB) >> 12));
        Assert.True(ext.HasStructPage((TiB - 4096) >> 12));
    }

    [Fact]
    public void Unknown_map_mmio_inside_a_section_leaves_its_neighbours_countable()
    {
        var ext = PageExt.ForUnknownMemoryMap(PageSize.Shift4K);
        const ulong bar = 0xfe000; // a 16 KiB doorbell page range inside a section

        ext.MarkNoStructPage(bar, 4);

        Assert.False(ext.HasStructPage(bar));
        Assert.False(ext.HasStructPage(bar + 3));
        Assert.True(ext.HasStructPage(bar - 1));
        Assert.True(ext.HasStructPage(bar + 4));
        Assert.Equal(1, ext.SectionsAllocated);
    }

    [Theory]
    [InlineData(PageSize.Shift4K, 27)]
    [InlineData(PageSize.Shift16K, 27)]
    [InlineData(PageSize.Shift64K, 29)]
    public void Section_size_follows_the_kernels_SECTION_SIZE_BITS(int pageShift, int sectionShift)
    {
        var ext = PageExt.ForUnknownMemoryMap(pageShift);

        Assert.Equal(sectionShift, ext.SectionShift);
        Assert.Equal(1 << (sectionShift - pageShift), ext.PagesPerSection);
    }

    [Fact]
    public void Racing_first_touches_share_one_section()
    {
        var ext = PageExt.ForUnknownMemoryMap(PageSize.Shift4K);
        var sections = new PageExt.Section?[8];

        Parallel.For(0, sections.Length, i => sections[i] = ext.SectionForUpdate(0x40000 + (ulong)i));

        Assert.Equal(1, ext.SectionsAllocated);
        Assert.All(sections, s => Assert.Same(sections[0], s));
    }
}
