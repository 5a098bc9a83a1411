using CsCheck;
using IommuSan.Model;
using IommuSan.Model.Iommu;
using IommuSan.Model.Memory;
using IommuSan.Model.Sanitizer;

namespace IommuSan.Tests.Model.Sanitizer;

/// <summary>
/// Random sequences of alloc/map/unmap/free agree with a naive oracle (a list of live mappings):
/// the counts equal the number of live mappings covering each page, every page the oracle says is
/// mapped at an allocation or free is reported, and nothing else is (no false positive).
/// Each run is seeded from a fixed list, so a failure replays; CsCheck shrinks it and prints the seed.
/// </summary>
public sealed class OracleAgreementPropertyTests
{
    private const int Runs = 60;
    private const ulong RamBytes = 16UL << 20;

    private static readonly Gen<(int Kind, int A, int B, int C)[]> Programs =
        Gen.Select(Gen.Int[0, 5], Gen.Int[0, 1 << 20], Gen.Int[0, 1 << 20], Gen.Int[0, 1 << 20]).Array[1, 120];

    public static TheoryData<bool> Modes => new() { false, true };

    [Theory]
    [MemberData(nameof(Modes))]
    public void Four_k_granule_sequences_agree_with_the_oracle(bool precise)
    {
        for (var run = 0; run < Runs; run++)
        {
            Programs.Sample(ops => new Harness(precise, PageSizes.Size4K).Execute(ops, strict: true),
                seed: new PCG((uint)run, 0x10_4d_d5_a1UL).ToString(), iter: 1, threads: 1);
        }
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Sixty_four_k_granule_sequences_never_report_a_false_positive(bool precise)
    {
        // Precise mode must agree exactly; kernel-exact has blind spots (false negatives) only.
        for (var run = 0; run < Runs; run++)
        {
            Programs.Sample(ops => new Harness(precise, PageSizes.Size64K).Execute(ops, strict: precise),
                seed: new PCG((uint)run, 0x64_4d_d5_a1UL).ToString(), iter: 1, threads: 1);
        }
    }

    private sealed class Harness
    {
        private readonly ModelMachine _machine;
        private readonly IommuDomain[] _domains;
        private readonly ulong[] _nextIova;
        private readonly List<(ulong Pfn, int Order)> _blocks = [];
        private readonly List<(int Domain, ulong Iova, ulong Paddr, ulong Size)> _live = [];
        private readonly ulong _granule;
        private readonly int[] _orders;

        public Harness(bool precise, ulong granule)
        {
            _machine = new ModelMachine(PageSize.Shift4K, RamBytes, precise ? SanitizerMode.Precise : SanitizerMode.KernelExact);
            _granule = granule;
            _orders = granule == PageSizes.Size4K ? [0, 1, 2, 9] : [4, 5];
            _domains = granule == PageSizes.Size4K
                ?
                [
                    _machine.NewDomain(PageSizes.Size4K, UnmapBehaviour.RefusePartialBlock),
                    _machine.NewDomain(IommuDomain.VtdPgsizeBitmap, UnmapBehaviour.UnmapWholeBlock),
                ]
                :
                [
                    _machine.NewDomain(PageSizes.Size64K, UnmapBehaviour.RefusePartialBlock),
                    _machine.NewDomain(IommuDomain.ArmLpae64KPgsizeBitmap, UnmapBehaviour.RefusePartialBlock),
                ];
            _nextIova = [0x100_0000, 0x100_0000];
        }

        private bool Strict { get; set; }

        public void Execute((int Kind, int A, int B, int C)[] ops, bool strict)
        {
            Strict = strict;
            foreach (var (kind, a, b, c) in ops)
            {
                switch (kind)
                {
                    case 0:
                        Alloc(a);
                        break;
                    case 1 or 2:
                        Map(a, b, c);
                        break;
                    case 3:
                        Unmap(a, b, c);
                        break;
                    case 4:
                        MapOverExisting(a);
                        break;
                    default:
                        Free(a);
                        break;
                }
            }

            // Every RAM page's count equals the oracle's coverage (kernel-exact with a large granule: at most).
            var first = ModelMachine.RamBase >> 12;
            for (var pfn = first; pfn < first + (RamBytes >> 12); pfn++)
            {
                var expected = Coverage(pfn);
                var actual = _machine.Sanitizer.GetCount(pfn);
                if (Strict)
                {
                    Assert.Equal(expected, actual);
                }
                else
                {
                    Assert.InRange(actual, 0, expected);
                }
            }

            Assert.Equal(0, _machine.Findings.Snapshot().Count(f => f.Kind != FindingKind.PageLeak));
        }

        private void Alloc(int a)
        {
            var order = _orders[a % _orders.Length];
            _machine.Findings.Clear();
            if (_machine.Allocator.TryAllocPages(order, Gfp.Kernel, "prop", out var pfn))
            {
                _blocks.Add((pfn, order));
                CheckReported(pfn, order);
            }
        }

        private void Free(int a)
        {
            if (_blocks.Count == 0)
            {
                return;
            }

            var (pfn, order) = _blocks[a % _blocks.Count];
            _blocks.RemoveAt(a % _blocks.Count);
            _machine.Findings.Clear();
            _machine.Allocator.FreePages(pfn, order);
            CheckReported(pfn, order);
        }

        private void Map(int a, int b, int c)
        {
            if (_blocks.Count == 0)
            {
                return;
            }

            var (pfn, order) = _blocks[a % _blocks.Count];
            var granulePages = (int)(_granule >> 12);
            var units = (1 << order) / granulePages;
            var start = b % units;
            var length = 1 + (c % (units - start));
            var d = (a >> 4) % _domains.Length;
            var paddr = (pfn << 12) + ((ulong)start * _granule);
            var size = (ulong)length * _granule;

            // Same offset within 2M for iova and paddr, so large blocks get 2M pages where they fit.
            var iova = ((_nextIova[d] + PageSizes.Size2M - 1) & ~(PageSizes.Size2M - 1)) + (paddr & (PageSizes.Size2M - 1));
            _nextIova[d] = iova + size;
            Assert.Equal(IommuStatus.Ok, _machine.Core.Map(_domains[d], iova, paddr, size));
            _live.Add((d, iova, paddr, size));
        }

        private void MapOverExisting(int a)
        {
            if (_live.Count == 0 || _blocks.Count == 0)
            {
                return;
            }

            var (d, iova, _, size) = _live[a % _live.Count];
            var (pfn, _) = _blocks[(a >> 3) % _blocks.Count];

            // A longer map starting below the live one: the first part maps, then -EEXIST; the fix undoes it.
            var below = iova >= 0x100_0000 + _granule ? iova - _granule : iova;
            var status = _machine.Core.Map(_domains[d], below, pfn << 12, size + (iova - below));
            Assert.NotEqual(IommuStatus.Ok, status);
        }

        private void Unmap(int a, int b, int c)
        {
            if (_live.Count == 0)
            {
                return;
            }

            var index = a % _live.Count;
            var (d, iova, paddr, size) = _live[index];
            var units = size / _granule;
            if (d == 0 && units > 1 && c % 2 == 0)
            {
                // Granule-only table: part of a mapping can go; the oracle keeps the rest as two pieces.
                var from = (ulong)b % units;
                var count = 1 + ((ulong)c % (units - from));
                var cut = from * _granule;
                var len = count * _granule;
                Assert.Equal(len, _machine.Core.Unmap(_domains[d], iova + cut, len));
                _live.RemoveAt(index);
                if (cut > 0)
                {
                    _live.Add((d, iova, paddr, cut));
                }

                if (cut + len < size)
                {
                    _live.Add((d, iova + cut + len, paddr + cut + len, size - cut - len));
                }

                return;
            }

            Assert.Equal(size, _machine.Core.Unmap(_domains[d], iova, size));
            _live.RemoveAt(index);
        }

        private int Coverage(ulong pfn)
        {
            var paddr = pfn << 12;
            var n = 0;
            foreach (var m in _live)
            {
                if (paddr >= m.Paddr && paddr < m.Paddr + m.Size)
                {
                    n++;
                }
            }

            return n;
        }

        private void CheckReported(ulong pfn, int order)
        {
            var reported = _machine.Findings.Snapshot().Where(f => f.Kind == FindingKind.PageLeak).Select(f => (f.Pfn, f.Count)).ToArray();
            var expected = Enumerable.Range(0, 1 << order)
                .Select(i => (Pfn: pfn + (ulong)i, Count: Coverage(pfn + (ulong)i)))
                .Where(p => p.Count != 0)
                .ToArray();
            if (Strict)
            {
                Assert.Equal(expected, reported);
            }
            else
            {
                Assert.All(reported, r => Assert.Contains(expected, e => e.Pfn == r.Pfn));
            }
        }
    }
}
