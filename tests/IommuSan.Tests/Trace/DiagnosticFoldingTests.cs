using IommuSan.Trace.Diagnostics;

namespace IommuSan.Tests.Trace;

/// <summary>
/// A trace with a million bad events costs one diagnostic per kind (and CPU, where the kind is per
/// CPU): the count adds up, the first occurrence's place and text stay, and a repeat can be counted
/// without building its text at all.
/// </summary>
public sealed class DiagnosticFoldingTests
{
    [Fact]
    public void Repeats_fold_into_the_first_occurrence_with_the_total_count()
    {
        var bag = new DiagnosticBag();
        bag.Add(DiagnosticCatalog.UnparsableLine, null, 1, null, "line 7", "first");
        bag.Add(DiagnosticCatalog.EventsLost, 1, 5, 100, "line 9", "cpu 1 first");
        Assert.True(bag.TryCountRepeat(DiagnosticCatalog.UnparsableLine, null, 2));
        bag.Add(DiagnosticCatalog.UnparsableLine, null, 1, null, "line 30", "later");

        var unparsable = Assert.Single(bag.ToList(), d => d.Kind == DiagnosticCatalog.UnparsableLine);
        Assert.Equal(4, unparsable.Count);
        Assert.Equal(("line 7", "first"), (unparsable.Location, unparsable.Detail));
        Assert.Equal(2, bag.Count);
    }

    [Fact]
    public void A_per_cpu_kind_is_new_on_another_cpu()
    {
        var bag = new DiagnosticBag();
        bag.Add(DiagnosticCatalog.EventsLost, 0, 3, null, "line 2", "cpu 0");

        Assert.True(bag.TryCountRepeat(DiagnosticCatalog.EventsLost, 0, 4));
        Assert.False(bag.TryCountRepeat(DiagnosticCatalog.EventsLost, 1, 4));
        Assert.False(bag.TryCountRepeat(DiagnosticCatalog.TimeWentBackwards, 0));
        Assert.Equal(7, Assert.Single(bag.ToList()).Count);
    }
}
