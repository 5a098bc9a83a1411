using IommuSan.Replay;

namespace IommuSan.Tests.Check.Replay;

/// <summary>
/// The per-domain index of live mappings answers "which mapping covers this iova" and "which overlap
/// this range" exactly as a scan of every live mapping would (seeded random layouts).
/// </summary>
public sealed class LiveMappingIndexTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Lookups_agree_with_a_scan_of_every_live_mapping(int seed)
    {
        var random = new Random(seed);
        var store = new MappingStore();
        var index = new LiveMappingIndex();
        var live = new List<int>();
        ulong cursor = 0x1000_0000;
        for (var i = 0; i < 300; i++)
        {
            // Non-overlapping records with gaps, as one domain's IOVAs are.
            cursor += (ulong)random.Next(0, 4) * 0x1000;
            var size = (ulong)random.Next(1, 9) * 0x1000;
            var slot = store.Add(new MappingRecord { Iova = cursor, Size = size, Paddr = cursor, Ambiguity = -1 });
            index[cursor] = slot;
            live.Add(slot);
            cursor += size;
        }

        foreach (var slot in live.Where((_, i) => i % 5 == 0).ToList())
        {
            Assert.True(index.Remove(store[slot].Iova));
            live.Remove(slot);
        }

        var found = new List<int>();
        for (var q = 0; q < 2000; q++)
        {
            var iova = 0x1000_0000UL + (ulong)random.Next(-0x10, 0x2000) * 0x200;
            var expectedCover = live.Where(s => iova >= store[s].Iova && iova < store[s].End).ToList();
            Assert.Equal(expectedCover.Count == 1, index.TryFindCovering(iova, store, out var cover));
            if (expectedCover.Count == 1)
            {
                Assert.Equal(expectedCover[0], cover);
            }

            var end = iova + (ulong)random.Next(1, 0x40) * 0x200;
            found.Clear();
            index.CollectOverlapping(iova, end, store, found);
            var expected = live.Where(s => store[s].Iova < end && store[s].End > iova).OrderBy(s => s).ToList();
            Assert.Equal(expected, found.OrderBy(s => s).ToList());
        }
    }
}
