using IommuSan.Trace;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Tests.Fuzz.Regressions;

/// <summary>Fuzz findings in rebuilding payloads from printed text fields.</summary>
public sealed class TextPayloadRegressionTests
{
    [Fact]
    public void A_dynamic_field_ending_just_past_the_buffer_is_not_a_crash()
    {
        // Fuzz case 8101329 (gzip of Fixtures/text/ftrace-irq-info.txt, two bytes changed): a string whose
        // 4-byte-aligned end passed the payload buffer's capacity crashed PayloadBuilder.AsMemory.
        var e = RegressionGuard.ReadAll(RegressionGuard.Fixture("payload-padding-text.txt.gz"));
        Assert.True(e is null || e.ByteOffset is not null || e.Line is not null);
    }

    [Fact]
    public void A_printed_string_longer_than_a_data_loc_can_hold_is_an_unparsable_event()
    {
        // A __data_loc field holds a 16-bit length: a 70,000-character device name cannot come from a kernel.
        var path = Path.Combine(Path.GetTempPath(), $"iommusan-longstring-{Guid.NewGuid():N}.txt");
        try
        {
            var device = new string('x', 70_000);
            File.WriteAllText(path,
                "# tracer: nop\n" +
                $"              dd-457     [000] .....    13.190430: dma_map_page: {device} dir=FROM_DEVICE dma_addr=fffa0000 size=65536 phys_addr=2bf1000 attrs=\n" +
                "              dd-457     [000] .....    13.190431: mm_page_free: page=0000000000000000 pfn=0x2bf1 order=0\n");
            using var source = TraceFile.Open(path);
            var names = source.ReadEvents().Select(ev => ev.Name).ToList();
            Assert.Equal(["mm_page_free"], names);
            Assert.Contains(source.Diagnostics.ToList(), d => d.Kind == DiagnosticCatalog.UnparsableFields);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
