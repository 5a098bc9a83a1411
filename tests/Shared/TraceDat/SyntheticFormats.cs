using IommuSan.Trace.Formats.Builtin;

namespace IommuSan.Testing.TraceDat;

/// <summary>
/// The format files synthetic traces carry: Debian 6.12's own, as IommuSan embeds them for text traces
/// (src/IommuSan.Core/Trace/Formats/Builtin, copied from the real captures), so synthetic traces have
/// real layouts and ids and trace-cmd can print them.
/// </summary>
internal static class SyntheticFormats
{
    /// <summary>Every format a synthetic trace uses, with its system.</summary>
    public static readonly IReadOnlyList<DatFormatText> All =
    [
        .. new (string System, string Name)[]
        {
            ("iommu", "map"), ("iommu", "unmap"),
            ("kmem", "mm_page_alloc"), ("kmem", "mm_page_free"), ("kmem", "mm_page_free_batched"),
            ("kmem", "kmalloc"), ("kmem", "kfree"),
            ("dma", "dma_map_page"), ("dma", "dma_unmap_page"), ("dma", "dma_map_sg"), ("dma", "dma_unmap_sg"),
            ("ftrace", "print"),
        }.Select(e => new DatFormatText(e.System, BuiltinFormats.Text(e.System, e.Name))),
    ];
}
