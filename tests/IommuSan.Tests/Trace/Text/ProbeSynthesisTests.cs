using System.Text;
using IommuSan.Trace.Text;

namespace IommuSan.Tests.Trace.Text;

/// <summary>
/// Kprobe lines without a format file define their own format; lines that only look like a probe
/// (trace-cmd prints "(symbol+off)" before kmem events it has no format for) must not cost a parse
/// on every line, and a damaged first probe line must not lose the probe.
/// </summary>
public sealed class ProbeSynthesisTests
{
    private static readonly byte[] Kmem = "kmem"u8.ToArray();
    private static readonly byte[] CacheAlloc = "kmem_cache_alloc"u8.ToArray();
    private static readonly byte[] NotAProbe = "(alloc_bprm+0x46) call_site=ffffffff81234567 ptr=ff11 gfp_flags=GFP_KERNEL node=-1"u8.ToArray();

    [Fact]
    public void A_name_that_keeps_failing_is_given_up_on_and_then_costs_nothing()
    {
        var catalog = new TextEventCatalog([]);
        for (var i = 0; i < 16; i++)
        {
            Assert.Null(catalog.SynthesizeProbe(Kmem, CacheAlloc, NotAProbe));
        }

        var least = long.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                _ = catalog.SynthesizeProbe(Kmem, CacheAlloc, NotAProbe);
            }

            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, least);
    }

    [Fact]
    public void A_damaged_first_line_does_not_lose_the_probe()
    {
        var catalog = new TextEventCatalog([]);
        var name = "__iommu_map"u8.ToArray();

        Assert.Null(catalog.SynthesizeProbe([], name, "(iommu_map+0x0/0x90) domain=0xff449d1f81d3f8a0 iova=#garbled"u8));
        var type = catalog.SynthesizeProbe([], name, "(iommu_map+0x0/0x90) domain=0xff449d1f81d3f8a0 iova=0xffeb7000 size=4096"u8);

        Assert.NotNull(type);
        Assert.True(type.Format.IsProbe);
        Assert.Equal("kprobes", type.Format.System);
        Assert.True(type.Format.IndexOf("iova") >= 0);
    }

    [Fact]
    public void A_kmem_event_printed_with_trace_cmds_symbol_prefix_is_skipped_not_an_error()
    {
        var line = Encoding.UTF8.GetBytes("          sh-450   [001]    13.112344: kmem_cache_alloc:     (alloc_bprm+0x46) call_site=ffffffff81234567 ptr=ff11 gfp_flags=GFP_KERNEL node=-1");
        var catalog = new TextEventCatalog([]);
        Assert.True(TextLine.TryParse(line, out var head));

        Assert.Null(catalog.Find(line.AsSpan(head.SystemStart, head.SystemLength), line.AsSpan(head.NameStart, head.NameLength)));
        Assert.Null(catalog.SynthesizeProbe([], line.AsSpan(head.NameStart, head.NameLength), line.AsSpan(head.BodyStart)));
    }
}
