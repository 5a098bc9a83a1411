using System.Numerics;

namespace IommuSan.Model.Iommu;

/// <summary>
/// A multi-level IO page table in the style of the ARM LPAE / VT-d formats: the granule (smallest
/// page size) fixes the table geometry, each level resolves granule_shift - 3 bits of iova (a table
/// is one granule of 8-byte entries), and leaves can sit at any level whose size is in the
/// domain's pgsize_bitmap (4K tables: 4K/2M/1G leaves; 16K: 16K/32M; 64K: 64K/512M).
/// </summary>
/// <remarks>
/// Entries are 64-bit like the hardware's: 0 is invalid, a leaf holds paddr | <see cref="LeafBit"/>,
/// a table entry holds the next table's index | <see cref="TableBit"/>. Tables live in one list and
/// are recycled through a free list, so a steady map/unmap workload allocates nothing.
/// Not thread-safe for overlapping ranges, like io-pgtable (callers own disjoint iova ranges).
/// </remarks>
internal sealed class IoPageTable
{
    public const int DefaultIovaBits = 48;

    private const ulong LeafBit = 1;
    private const ulong TableBit = 2;
    private const int TableIndexShift = 2;

    private readonly List<Table> _tables = [];
    private readonly Stack<int> _freeTables = new();
    private readonly int _granuleShift;
    private readonly int _bitsPerLevel;
    private readonly Lock _allocLock = new();

    public IoPageTable(ulong pgsizeBitmap, UnmapBehaviour behaviour, int iovaBits = DefaultIovaBits)
    {
        if (pgsizeBitmap == 0)
        {
            throw new ArgumentException("pgsize_bitmap is empty.", nameof(pgsizeBitmap));
        }

        Granule = PageSizes.Granule(pgsizeBitmap);
        _granuleShift = BitOperations.TrailingZeroCount(Granule);
        if (_granuleShift is not (12 or 14 or 16))
        {
            throw new ArgumentException($"Granule 0x{Granule:x} is not 4K, 16K or 64K.", nameof(pgsizeBitmap));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(iovaBits, _granuleShift + 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(iovaBits, 57);
        _bitsPerLevel = _granuleShift - 3;
        IovaBits = iovaBits;
        Levels = (iovaBits - _granuleShift + _bitsPerLevel - 1) / _bitsPerLevel;
        for (var bit = 0; bit < 64; bit++)
        {
            if ((pgsizeBitmap & (1UL << bit)) == 0)
            {
                continue;
            }

            var level = (bit - _granuleShift) / _bitsPerLevel;
            if ((bit - _granuleShift) % _bitsPerLevel != 0 || level >= Levels)
            {
                throw new ArgumentException($"Page size 0x{1UL << bit:x} is not a leaf size of a {Granule / 1024}K-granule table.", nameof(pgsizeBitmap));
            }
        }

        PgsizeBitmap = pgsizeBitmap;
        Behaviour = behaviour;
        _tables.Add(new Table(EntriesAt(Levels - 1)));
    }

    public ulong PgsizeBitmap { get; }

    public ulong Granule { get; }

    public UnmapBehaviour Behaviour { get; }

    public int IovaBits { get; }

    public int Levels { get; }

    /// <summary>Table pages in use (the root included).</summary>
    public int TablePages => _tables.Count - _freeTables.Count;

    /// <summary>Fault injection: the most table pages this table may use; beyond it a map fails with -ENOMEM.</summary>
    public int TablePageLimit { get; set; } = int.MaxValue;

    /// <summary>Maps <paramref name="count"/> pages of <paramref name="pgsize"/> (io_pgtable_ops.map_pages); <paramref name="mapped"/> is what was done.</summary>
    public IommuStatus MapPages(ulong iova, ulong paddr, ulong pgsize, ulong count, out ulong mapped)
    {
        mapped = 0;
        var level = LevelOfSize(pgsize);
        if (level < 0 || ((iova | paddr) & (pgsize - 1)) != 0)
        {
            return IommuStatus.InvalidArgument;
        }

        for (ulong i = 0; i < count; i++)
        {
            var status = MapOne(iova + mapped, paddr + mapped, level);
            if (status != IommuStatus.Ok)
            {
                return status;
            }

            mapped += pgsize;
        }

        return IommuStatus.Ok;
    }

    /// <summary>
    /// Unmaps up to <paramref name="count"/> pages of <paramref name="pgsize"/> (io_pgtable_ops.unmap_pages)
    /// and returns the bytes unmapped: stops at the first hole; at a larger block it refuses or removes
    /// the whole block, per <see cref="Behaviour"/>.
    /// </summary>
    public ulong UnmapPages(ulong iova, ulong pgsize, ulong count)
    {
        var target = LevelOfSize(pgsize);
        if (target < 0 || (iova & (pgsize - 1)) != 0)
        {
            return 0;
        }

        ulong done = 0;
        for (ulong i = 0; i < count; i++)
        {
            var at = iova + done;
            if (!InRange(at))
            {
                return done;
            }

            var table = _tables[0];
            var level = Levels - 1;
            for (; level > target; level--)
            {
                var idx = IndexAt(at, level);
                var e = table.Entries[idx];
                if (e == 0)
                {
                    return done;
                }

                if ((e & LeafBit) != 0)
                {
                    // A block larger than asked covers the iova.
                    if (Behaviour == UnmapBehaviour.RefusePartialBlock)
                    {
                        return done;
                    }

                    table.Entries[idx] = 0;
                    table.Live--;
                    return done + LeafSize(level);
                }

                table = _tables[(int)(e >> TableIndexShift)];
            }

            var slot = IndexAt(at, target);
            var entry = table.Entries[slot];
            if (entry == 0)
            {
                return done;
            }

            if ((entry & TableBit) != 0)
            {
                // Mapped with smaller pages, unmapped with a larger one: the whole subtree goes.
                FreeSubtree((int)(entry >> TableIndexShift));
            }

            table.Entries[slot] = 0;
            table.Live--;
            done += pgsize;
        }

        return done;
    }

    /// <summary>
    /// Maps [iova, iova + size) choosing page sizes as the IOMMU core does (largest that fits
    /// alignment and length). For callers that mirror a mapping seen in a trace; no sanitizer hook.
    /// </summary>
    public IommuStatus Map(ulong iova, ulong paddr, ulong size, out ulong mapped)
    {
        mapped = 0;
        if (((iova | paddr | size) & (Granule - 1)) != 0 || iova + size < iova || paddr + size < paddr)
        {
            return IommuStatus.InvalidArgument;
        }

        while (mapped < size)
        {
            var pgsize = PageSizes.Pick(PgsizeBitmap, iova + mapped, paddr + mapped, size - mapped, out var count);
            var status = MapPages(iova + mapped, paddr + mapped, pgsize, count, out var done);
            mapped += done;
            if (status != IommuStatus.Ok)
            {
                return status;
            }
        }

        return IommuStatus.Ok;
    }

    /// <summary>Unmaps [iova, iova + size) as the IOMMU core's loop does; returns the bytes unmapped (stops at the first hole).</summary>
    public ulong Unmap(ulong iova, ulong size)
    {
        if (((iova | size) & (Granule - 1)) != 0 || iova + size < iova)
        {
            return 0;
        }

        ulong unmapped = 0;
        while (unmapped < size)
        {
            var at = iova + unmapped;
            var pgsize = PageSizes.Pick(PgsizeBitmap, at, at, size - unmapped, out var count);
            var done = UnmapPages(at, pgsize, count);
            if (done == 0)
            {
                break;
            }

            unmapped += done;
        }

        return unmapped;
    }

    /// <summary>iova_to_phys: the physical address <paramref name="iova"/> translates to, 0 when unmapped.</summary>
    public ulong IovaToPhys(ulong iova)
    {
        var walk = Walk(iova);
        return walk.Mapped ? walk.Paddr + (iova - walk.Iova) : 0;
    }

    /// <summary>The leaf translating <paramref name="iova"/>, or the extent of the empty entry where the walk stopped.</summary>
    public IoWalk Walk(ulong iova)
    {
        if (!InRange(iova))
        {
            // Beyond the input address size: one big hole up to the end of the address space.
            return new IoWalk(false, iova, ulong.MaxValue - iova, 0);
        }

        var table = _tables[0];
        for (var level = Levels - 1; ; level--)
        {
            var e = table.Entries[IndexAt(iova, level)];
            var size = LeafSize(level);
            var start = iova & ~(size - 1);
            if (e == 0)
            {
                return new IoWalk(false, start, 0, size);
            }

            if ((e & LeafBit) != 0)
            {
                return new IoWalk(true, start, e & ~(LeafBit | TableBit), size);
            }

            table = _tables[(int)(e >> TableIndexShift)];
        }
    }

    /// <summary>
    /// Like <see cref="Walk"/>, but extends the result along the same table up to
    /// <paramref name="limit"/>: a run of leaves contiguous in both iova and paddr, or a run of empty
    /// entries. The sanitizer's range loops use it so a 1 MiB range of 4K pages costs one walk
    /// and 256 entry reads instead of 256 walks from the root.
    /// </summary>
    public IoWalk WalkRun(ulong iova, ulong limit)
    {
        if (!InRange(iova))
        {
            return new IoWalk(false, iova, 0, ulong.MaxValue - iova);
        }

        var table = _tables[0];
        for (var level = Levels - 1; ; level--)
        {
            var idx = IndexAt(iova, level);
            var entries = table.Entries;
            var e = entries[idx];
            if ((e & TableBit) != 0)
            {
                table = _tables[(int)(e >> TableIndexShift)];
                continue;
            }

            var size = LeafSize(level);
            var start = iova & ~(size - 1);
            var end = start + size;
            var n = idx + 1;
            if (e == 0)
            {
                while (n < entries.Length && end < limit && entries[n] == 0)
                {
                    n++;
                    end += size;
                }

                return new IoWalk(false, start, 0, end - start);
            }

            var paddr = e & ~(LeafBit | TableBit);
            var expected = paddr + size;
            while (n < entries.Length && end < limit && entries[n] == (expected | LeafBit))
            {
                n++;
                end += size;
                expected += size;
            }

            return new IoWalk(true, start, paddr, end - start);
        }
    }

    /// <summary>Every leaf, in iova order. A slow path: for reports, never per event.</summary>
    public IEnumerable<IoLeaf> Leaves() => LeavesOf(0, Levels - 1, 0);

    /// <summary>True when some leaf maps a byte of [paddr, paddr + size); the first such leaf. Slow path.</summary>
    public bool TryFindLeafByPaddr(ulong paddr, ulong size, out IoLeaf leaf)
    {
        foreach (var l in Leaves())
        {
            if (l.Paddr < paddr + size && paddr < l.Paddr + l.Size)
            {
                leaf = l;
                return true;
            }
        }

        leaf = default;
        return false;
    }

    private IEnumerable<IoLeaf> LeavesOf(int tableIndex, int level, ulong baseIova)
    {
        var table = _tables[tableIndex];
        var size = LeafSize(level);
        for (var i = 0; i < table.Entries.Length; i++)
        {
            var e = table.Entries[i];
            var iova = baseIova + ((ulong)i * size);
            if ((e & LeafBit) != 0)
            {
                yield return new IoLeaf(iova, e & ~(LeafBit | TableBit), size);
            }
            else if ((e & TableBit) != 0)
            {
                foreach (var l in LeavesOf((int)(e >> TableIndexShift), level - 1, iova))
                {
                    yield return l;
                }
            }
        }
    }

    private IommuStatus MapOne(ulong iova, ulong paddr, int target)
    {
        if (!InRange(iova))
        {
            return IommuStatus.OutOfRange;
        }

        var table = _tables[0];
        for (var level = Levels - 1; level > target; level--)
        {
            var idx = IndexAt(iova, level);
            var e = table.Entries[idx];
            if (e == 0)
            {
                var child = AllocTable(EntriesAt(level - 1));
                if (child < 0)
                {
                    return IommuStatus.NoMemory;
                }

                e = ((ulong)child << TableIndexShift) | TableBit;
                table.Entries[idx] = e;
                table.Live++;
            }
            else if ((e & LeafBit) != 0)
            {
                return IommuStatus.AlreadyMapped;
            }

            table = _tables[(int)(e >> TableIndexShift)];
        }

        var slot = IndexAt(iova, target);
        var entry = table.Entries[slot];
        if (entry != 0)
        {
            // An empty table left behind by earlier unmaps can be replaced by a block; anything live cannot.
            if ((entry & TableBit) == 0 || _tables[(int)(entry >> TableIndexShift)].Live != 0)
            {
                return IommuStatus.AlreadyMapped;
            }

            FreeSubtree((int)(entry >> TableIndexShift));
            table.Live--;
        }

        table.Entries[slot] = paddr | LeafBit;
        table.Live++;
        return IommuStatus.Ok;
    }

    private int AllocTable(int entries)
    {
        lock (_allocLock)
        {
            if (_freeTables.Count > 0)
            {
                var reused = _freeTables.Pop();
                if (_tables[reused].Entries.Length == entries)
                {
                    return reused;
                }

                _tables[reused] = new Table(entries);
                return reused;
            }

            if (_tables.Count >= TablePageLimit)
            {
                return -1;
            }

            _tables.Add(new Table(entries));
            return _tables.Count - 1;
        }
    }

    private void FreeSubtree(int index)
    {
        var table = _tables[index];
        var entries = table.Entries;
        for (var i = 0; i < entries.Length; i++)
        {
            if ((entries[i] & TableBit) != 0)
            {
                FreeSubtree((int)(entries[i] >> TableIndexShift));
            }
        }

        Array.Clear(entries);
        table.Live = 0;
        lock (_allocLock)
        {
            _freeTables.Push(index);
        }
    }

    private bool InRange(ulong iova) => IovaBits >= 64 || iova >> IovaBits == 0;

    private int IndexAt(ulong iova, int level) =>
        (int)((iova >> (_granuleShift + (level * _bitsPerLevel))) & (ulong)(EntriesAt(level) - 1));

    private int EntriesAt(int level) =>
        level == Levels - 1 ? 1 << (IovaBits - _granuleShift - (level * _bitsPerLevel)) : 1 << _bitsPerLevel;

    private ulong LeafSize(int level) => 1UL << (_granuleShift + (level * _bitsPerLevel));

    private int LevelOfSize(ulong pgsize)
    {
        if ((PgsizeBitmap & pgsize) == 0 || !BitOperations.IsPow2(pgsize))
        {
            return -1;
        }

        return (BitOperations.TrailingZeroCount(pgsize) - _granuleShift) / _bitsPerLevel;
    }

    /// <summary>One table page: its entries and how many are valid.</summary>
    private sealed class Table(int entries)
    {
        public readonly ulong[] Entries = new ulong[entries];

        public int Live;
    }
}
