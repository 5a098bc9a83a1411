namespace IommuSan.Tests.Check.Synthetic;

/// <summary>Two domains map the same IOVA and one unmap comes with no evidence: "ambiguous", not a finding.</summary>
public sealed class AmbiguousAttributionTests
{
    [Fact]
    public void An_unmap_matching_two_domains_is_ambiguous_and_names_both_pages()
    {
        var report = TwoDomainsThenAnUnmapWithoutEvidence()
            .Free(0x1111).Free(0x2222)
            .Report();

        Assert.Empty(report.Findings);
        var a = Assert.Single(report.Ambiguous);
        Assert.Equal(["0x1111", "0x2222"], a.CandidatePfns.Order(StringComparer.Ordinal));
        Assert.Equal(2, a.Candidates.Count);
        Assert.True(a.PageEventsInDoubtTotal >= 1);
        Assert.Null(a.Resolution);
        Assert.Equal(0, report.Summary.ExitCode);
    }

    [Fact]
    public void Later_evidence_resolves_the_ambiguity_and_then_a_real_leak_is_reported()
    {
        // The second domain's mapping is unmapped later with its dma event: the ambiguous unmap was the first's.
        var report = TwoDomainsThenAnUnmapWithoutEvidence()
            .Unmap(0xffef0000, 4096, 4096, cpu: 1, pid: 2).DmaUnmapPage("0000:00:02.0", 0xffef0000, 4096, cpu: 1, pid: 2)
            .Free(0x1111).Free(0x2222)
            .Report();

        Assert.Empty(report.Findings);
        Assert.NotNull(Assert.Single(report.Ambiguous).Resolution);
    }

    [Fact]
    public void With_one_domain_holding_the_iova_the_unmap_is_attributed_by_inference()
    {
        var report = new SyntheticTrace()
            .Map(0xffef0000, 0x1111000, 4096).DmaMapPage("0000:00:01.0", 0xffef0000, 0x1111000, 4096)
            .After(200_000_000)
            .Unmap(0xffef0000, 4096, 4096, pid: 7)
            .After(200_000_000)
            .Free(0x1111)
            .Report();

        Assert.Empty(report.Findings);
        Assert.Empty(report.Ambiguous);
        Assert.Equal(1, report.Statistics.AttributedByInference);
    }

    // IOVA 0xffef0000 mapped in two devices' domains (pfns 0x1111 and 0x2222), then one unmap that no event attributes.
    private static SyntheticTrace TwoDomainsThenAnUnmapWithoutEvidence() => new SyntheticTrace()
        .Map(0xffef0000, 0x1111000, 4096, cpu: 0, pid: 1).DmaMapPage("0000:00:01.0", 0xffef0000, 0x1111000, 4096, cpu: 0, pid: 1)
        .Map(0xffef0000, 0x2222000, 4096, cpu: 1, pid: 2).DmaMapPage("0000:00:02.0", 0xffef0000, 0x2222000, 4096, cpu: 1, pid: 2)
        .After(200_000_000)
        .Unmap(0xffef0000, 4096, 4096, cpu: 0, pid: 3)
        .After(200_000_000);
}
