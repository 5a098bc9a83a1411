using System.Buffers;
using IommuSan.Trace.Diagnostics;

namespace IommuSan.Trace.Dat;

/// <summary>
/// Hands out one CPU's ring-buffer sub-buffers in file order, holding a bounded window of them in a
/// pooled buffer: a block of pages read straight from the file, or one decompressed chunk.
/// </summary>
internal abstract class CpuPageSource : IDisposable
{
    protected CpuPageSource(DatFile file, CpuRegion region, int subBufferSize)
    {
        File = file;
        Region = region;
        SubBufferSize = subBufferSize;
    }

    public int Cpu => Region.Cpu;

    /// <summary>File bytes of this CPU's region consumed so far (for progress).</summary>
    public long Consumed { get; protected set; }

    protected DatFile File { get; }

    protected CpuRegion Region { get; }

    protected int SubBufferSize { get; }

    /// <summary>
    /// The next sub-buffer: <paramref name="length"/> bytes at <paramref name="start"/> in <paramref name="buffer"/>
    /// (the buffer stays valid until the next call). <paramref name="length"/> is less than the sub-buffer size
    /// only for a truncated last page. False when the CPU's data is exhausted.
    /// </summary>
    public abstract bool TryNextPage(out byte[] buffer, out int start, out int length);

    /// <summary>Where the current page is, for a diagnostic ("byte N" or "chunk at byte N, page K").</summary>
    public abstract string DescribeCurrentPage();

    /// <summary>File offset that best locates the current page (the chunk's offset for compressed data).</summary>
    public abstract long CurrentPageFileOffset { get; }

    public static CpuPageSource Create(TraceDatMetadata meta, CpuRegion region, int blockBytes) =>
        meta.CpuDataCompressed
            ? new CompressedCpuPageSource(meta.File, region, meta.SubBufferSize, meta.Decompressor!, meta.Compression)
            : new RawCpuPageSource(meta.File, region, meta.SubBufferSize, blockBytes);

    public abstract void Dispose();
}

/// <summary>Uncompressed data: reads a block of whole sub-buffers at a time.</summary>
internal sealed class RawCpuPageSource : CpuPageSource
{
    private readonly byte[] _block;
    private long _blockFileOffset;
    private int _blockLength;
    private int _pageStart;
    private int _nextPage;
    private long _nextRead;

    public RawCpuPageSource(DatFile file, CpuRegion region, int subBufferSize, int blockBytes)
        : base(file, region, subBufferSize)
    {
        var pages = Math.Max(1, blockBytes / subBufferSize);
        var blockSize = (int)Math.Min((long)pages * subBufferSize, Math.Max(region.Size, subBufferSize));
        _block = ArrayPool<byte>.Shared.Rent(blockSize);
        _nextRead = region.Offset;
    }

    public override long CurrentPageFileOffset => _blockFileOffset + _pageStart;

    public override bool TryNextPage(out byte[] buffer, out int start, out int length)
    {
        buffer = _block;
        while (_nextPage >= _blockLength)
        {
            var end = Region.Offset + Region.Size;
            if (_nextRead >= end)
            {
                start = length = 0;
                return false;
            }

            // Whole sub-buffers only, as many as fit the pooled block (at least one).
            var pages = Math.Max(1, _block.Length / SubBufferSize);
            var count = (int)Math.Min((long)pages * SubBufferSize, end - _nextRead);
            File.ReadExactly(_nextRead, _block.AsSpan(0, count), "ring-buffer data", Cpu);
            _blockFileOffset = _nextRead;
            _blockLength = count;
            _nextRead += count;
            _nextPage = 0;
            Consumed = _nextRead - Region.Offset;
        }

        _pageStart = _nextPage;
        _nextPage += SubBufferSize;
        start = _pageStart;
        length = Math.Min(SubBufferSize, _blockLength - _pageStart);
        return true;
    }

    public override string DescribeCurrentPage() => $"byte {CurrentPageFileOffset}";

    public override void Dispose() => ArrayPool<byte>.Shared.Return(_block);
}

/// <summary>
/// Compressed data (v7 doc "COMPRESSION FORMAT OF THE TRACE DATA"): u32 chunk count, then chunks
/// {u32 compressed size, u32 uncompressed size, data}, each a whole number of sub-buffers.
/// One chunk is decompressed at a time.
/// </summary>
internal sealed class CompressedCpuPageSource : CpuPageSource
{
    private readonly DatDecompressor _decompressor;
    private readonly string _compression;
    private byte[] _packed = [];
    private byte[] _pages = [];
    private int _pagesLength;
    private int _pageStart;
    private int _nextPage;
    private uint _chunksLeft;
    private int _chunkIndex = -1;
    private long _chunkFileOffset;
    private long _nextChunk;
    private long _end;
    private bool _started;

    public CompressedCpuPageSource(DatFile file, CpuRegion region, int subBufferSize, DatDecompressor decompressor, string compression)
        : base(file, region, subBufferSize)
    {
        _decompressor = decompressor;
        _compression = compression;
        _nextChunk = region.Offset;
    }

    public override long CurrentPageFileOffset => _chunkFileOffset;

    public override bool TryNextPage(out byte[] buffer, out int start, out int length)
    {
        if (!_started)
        {
            _started = true;
            ReadChunkCount();
        }

        // Every pass either returns or consumes one announced chunk, so this ends.
        while (_nextPage >= _pagesLength)
        {
            if (_chunksLeft == 0)
            {
                buffer = _pages;
                start = length = 0;
                return false;
            }

            LoadNextChunk();
            _nextPage = 0;
        }

        _pageStart = _nextPage;
        _nextPage += SubBufferSize;
        buffer = _pages;
        start = _pageStart;
        length = Math.Min(SubBufferSize, _pagesLength - _pageStart);
        return true;
    }

    public override string DescribeCurrentPage() =>
        $"{_compression} chunk {_chunkIndex} at byte {_chunkFileOffset}, sub-buffer {_pageStart / SubBufferSize}";

    private void ReadChunkCount()
    {
        // trace-cmd 3.1.6 records the size of the chunks without the u32 chunk count in front of them
        // (the next section starts exactly 4 bytes after offset + size), so the data ends there.
        _end = Region.Offset + TraceDatLayout.ChunkCountSize + Region.Size;
        if (!File.Contains(Region.Offset, TraceDatLayout.ChunkCountSize + Region.Size))
        {
            throw File.Error(Region.Offset, $"compressed ring-buffer data (chunk count + {Region.Size} bytes) runs past the end of the file ({File.Length} bytes)", Cpu);
        }

        Span<byte> countBytes = stackalloc byte[TraceDatLayout.ChunkCountSize];
        File.ReadExactly(Region.Offset, countBytes, "chunk count", Cpu);
        var count = File.Cursor(countBytes, Region.Offset, cpu: Cpu).ReadUInt32("chunk count");
        var room = Region.Size / TraceDatLayout.ChunkHeaderSize;
        if (count > room)
        {
            throw File.Error(Region.Offset, $"chunk count {count} cannot fit in the {Region.Size} bytes of this CPU's data", Cpu);
        }

        _chunksLeft = count;
        _nextChunk = Region.Offset + TraceDatLayout.ChunkCountSize;
    }

    private void LoadNextChunk()
    {
        var at = _nextChunk;
        var end = _end;
        Span<byte> header = stackalloc byte[TraceDatLayout.ChunkHeaderSize];
        if (end - at < TraceDatLayout.ChunkHeaderSize)
        {
            throw File.Error(at, $"truncated: {_chunksLeft} more chunks announced but the CPU's data ends at byte {end}", Cpu);
        }

        File.ReadExactly(at, header, "chunk header", Cpu);
        var c = File.Cursor(header, at, cpu: Cpu);
        var compressedSize = c.ReadUInt32("chunk compressed size");
        var uncompressedSize = c.ReadUInt32("chunk uncompressed size");
        var dataAt = at + TraceDatLayout.ChunkHeaderSize;
        if (compressedSize > end - dataAt)
        {
            throw File.Error(at, $"chunk compressed size {compressedSize} runs past the end of the CPU's data ({end - dataAt} bytes remain)", Cpu);
        }

        if (uncompressedSize > TraceDatLayout.MaxChunk || compressedSize > TraceDatLayout.MaxChunk)
        {
            throw File.Error(at + 4, $"chunk sizes {compressedSize}/{uncompressedSize} exceed the {TraceDatLayout.MaxChunk} bytes accepted", Cpu);
        }

        EnsureCapacity(ref _packed, (int)compressedSize);
        EnsureCapacity(ref _pages, (int)uncompressedSize);
        File.ReadExactly(dataAt, _packed.AsSpan(0, (int)compressedSize), "compressed chunk", Cpu);
        int produced;
        try
        {
            produced = _decompressor.Decompress(_packed, 0, (int)compressedSize, _pages.AsSpan(0, (int)uncompressedSize));
        }
        catch (InvalidDataException e)
        {
            throw new TraceDataException(File.Path, $"corrupt {_compression} chunk: {e.Message}", at, cpu: Cpu, inner: e);
        }

        if (produced != uncompressedSize)
        {
            throw File.Error(at, $"chunk decompressed to {produced} bytes but its header says {uncompressedSize}", Cpu);
        }

        _chunkFileOffset = at;
        _chunkIndex++;
        _chunksLeft--;
        _pagesLength = (int)uncompressedSize;
        _nextChunk = dataAt + compressedSize;
        Consumed = _nextChunk - Region.Offset;
    }

    private static void EnsureCapacity(ref byte[] buffer, int size)
    {
        if (buffer.Length >= size)
        {
            return;
        }

        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        buffer = ArrayPool<byte>.Shared.Rent(size);
    }

    public override void Dispose()
    {
        if (_packed.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_packed);
            _packed = [];
        }

        if (_pages.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_pages);
            _pages = [];
        }
    }
}
