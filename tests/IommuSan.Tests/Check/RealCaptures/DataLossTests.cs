namespace IommuSan.Tests.Check.RealCaptures;

/// <summary>Lost events mark the findings they could have caused or hidden; a text trace says where it lost them.</summary>
public sealed class DataLossTests
{
    private const string Header = """
        # tracer: nop
        #
        #           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
        #              | |         |   |||||     |         |

        """;

    private const string Leak = """
                  insmod-485     [001] .....    15.360772: mm_page_alloc: page=ff9337e8003cd280 pfn=0xf34a order=0 migratetype=0 gfp_flags=GFP_KERNEL
                  insmod-485     [001] .....    15.360843: map: IOMMU: iova=0x00000000ffef0000 - 0x00000000ffef1000 paddr=0x000000000f34a000 size=4096
                  insmod-485     [001] .....    15.360851: dma_map_page: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=ffef0000 size=4096 phys_addr=f34a000 attrs=
                  insmod-485     [001] .....    15.360938: mm_page_free: page=ff9337e8003cd280 pfn=0xf34a order=0

        """;

    [Fact]
    public void Findings_after_lost_events_say_they_may_be_affected()
    {
        var report = Check(Header + "CPU:1 [LOST 42 EVENTS]\n" + Leak);

        var f = Assert.Single(report.Findings);
        Assert.Contains(f.PossiblyAffectedBy, a => a.StartsWith("events-lost", StringComparison.Ordinal));
        Assert.True(report.Summary.DataLoss);
    }

    [Fact]
    public void Without_lost_events_nothing_is_marked()
    {
        var report = Check(Header + Leak);

        Assert.Empty(Assert.Single(report.Findings).PossiblyAffectedBy);
        Assert.False(report.Summary.DataLoss);
    }

    private static Reporting.CheckReport Check(string text)
    {
        var path = Path.Combine(Path.GetTempPath(), $"iommusan-check-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, text);
        try
        {
            return CheckTestSupport.CheckFile(path);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
